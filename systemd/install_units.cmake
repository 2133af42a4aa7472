# Runs at install time (cmake --install, DESTDIR installs, CPack), from
# systemd/CMakeLists.txt: writes the broker's units with ExecStart at
# <install prefix>/<bindir>/shmreg-broker, the prefix of this install rather
# than the one chosen at configure time, and installs them.
#
# Set by the caller: SHMREG_UNIT_SOURCES (the *.service.in files),
# SHMREG_UNIT_WORK_DIR (where the configured copies are written),
# SHMREG_HARDENING_FILE (hardening.conf, the text of @SHMREG_HARDENING@),
# SHMREG_INSTALL_BINDIR (relative to the prefix, or absolute).
file(READ "${SHMREG_HARDENING_FILE}" SHMREG_HARDENING)
if(IS_ABSOLUTE "${SHMREG_INSTALL_BINDIR}")
  set(SHMREG_BINDIR "${SHMREG_INSTALL_BINDIR}")
else()
  set(SHMREG_BINDIR "${CMAKE_INSTALL_PREFIX}/${SHMREG_INSTALL_BINDIR}")
endif()
# One work directory per destination, so that installs of one build tree
# running at once (a test's --prefix install beside cpack) never install
# each other's copy.
string(MD5 destination "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
foreach(source IN LISTS SHMREG_UNIT_SOURCES)
  get_filename_component(unit "${source}" NAME_WLE)
  configure_file("${source}" "${SHMREG_UNIT_WORK_DIR}/${destination}/${unit}" @ONLY)
  # file(INSTALL) adds $DESTDIR and records the file in install_manifest.txt.
  file(INSTALL "${SHMREG_UNIT_WORK_DIR}/${destination}/${unit}"
    DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endforeach()
