# `cmake --install`: headers, libshmreg, a CMake package (find_package(shmreg)
# gives shmreg::client) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS shmreg_client EXPORT shmregTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY client/include/shmreg DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT shmregTargets NAMESPACE shmreg:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shmreg)
configure_package_config_file(cmake/shmregConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/shmregConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shmreg)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/shmregConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/shmregConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/shmregConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shmreg)

# The .pc file finds its prefix relative to itself, so a relocated install
# (DESTDIR, a copied tree) still resolves.
file(RELATIVE_PATH SHMREG_PC_RELATIVE_PREFIX
  ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" SHMREG_PC_RELATIVE_PREFIX "${SHMREG_PC_RELATIVE_PREFIX}")
# Two files, so that C consumers get no C++ flag: shmreg.pc (headers and
# library: enough for the C API) and shmreg-cxx.pc, which requires it and
# adds the -std=c++23 the C++ headers need (docs/c-api.md).
configure_file(cmake/shmreg.pc.in ${CMAKE_CURRENT_BINARY_DIR}/shmreg.pc @ONLY)
configure_file(cmake/shmreg-cxx.pc.in ${CMAKE_CURRENT_BINARY_DIR}/shmreg-cxx.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/shmreg.pc ${CMAKE_CURRENT_BINARY_DIR}/shmreg-cxx.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
