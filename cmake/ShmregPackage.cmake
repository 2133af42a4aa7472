# The Debian package: `cpack -G DEB` in a build tree configured with
# CMAKE_INSTALL_PREFIX=/usr (the ci preset is) packs what `cmake --install`
# installs into shmreg_<version>_<arch>.deb. scripts/package-deb.sh runs it;
# docs/packaging.md lists the content and what the maintainer scripts do.
set(SHMREG_DEB_MAINTAINER "shmreg developers <shmreg@localhost>" CACHE STRING
  "the Maintainer field of the .deb")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME shmreg)
set(CPACK_PACKAGE_VENDOR shmreg)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SHMREG_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "host-wide registry of process names in shared memory")
set(CPACK_PACKAGE_DESCRIPTION
  "Processes register keys, each with a value, in named registries; any process
of the host looks them up by reading one shared-memory segment, without a
system call. The broker, shmreg-broker, is the segment's only writer and
removes a process's entries as soon as the process exits.
.
This package holds the broker and its systemd units, the shmreg command-line
tool, libshmreg with its C and C++ headers, pkg-config files and CMake
package, the shmreg Python package, man pages and bash completion.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared libraries from dpkg-shlibdeps; what the Python package loads at
# run time; the programs the postinst runs; and procps for the units'
# ExecReload=/bin/kill (procps is not Essential).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The shlibs file: a program built against libshmreg.so.0 of this version
# runs with any later one of the same soname (its symbols are versioned).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "python3, python3-cffi, systemd | systemd-standalone-sysusers, systemd | systemd-standalone-tmpfiles, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
  ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
  ${PROJECT_SOURCE_DIR}/packaging/deb/postrm
  ${PROJECT_SOURCE_DIR}/packaging/deb/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# The libdir (multiarch) and the Python directory are chosen from the
# configure-time prefix, so a tree configured for another prefix would pack
# them in the wrong places: cpack refuses it.
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_BINARY_DIR}/ShmregCPackCheck.cmake)
file(WRITE ${CPACK_PROJECT_CONFIG_FILE}
  "if(NOT [==[${CMAKE_INSTALL_PREFIX}]==] STREQUAL \"/usr\")
  message(FATAL_ERROR \"the .deb is packed from a build configured with CMAKE_INSTALL_PREFIX=/usr; this one has ${CMAKE_INSTALL_PREFIX}\")
endif()
")

include(CPack)
