# Warnings and sanitizers shared by every target of ours.
add_library(shmreg_build_flags INTERFACE)
target_compile_options(shmreg_build_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion-null)
if(SHMREG_WERROR)
  target_compile_options(shmreg_build_flags INTERFACE -Werror)
endif()

if(SHMREG_SANITIZE STREQUAL "asan")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(SHMREG_SANITIZE STREQUAL "tsan")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # GCC 12 rejects atomic_thread_fence under TSan (-Wtsan), and Boost.Asio
  # fences every handler call. TSan ignores fences, so it sees the same with
  # Asio's documented switch to no fences; the broker's io_context runs on
  # one thread, whose handlers need no fence. Every translation unit gets the
  # same definition, so that Asio's inline code stays one. (Our own fences,
  # in shm/atomics.hpp, have a TSan formulation of their own.)
  add_compile_definitions(BOOST_ASIO_DISABLE_FENCED_BLOCK)
elseif(NOT SHMREG_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SHMREG_SANITIZE must be empty, 'asan' or 'tsan', not '${SHMREG_SANITIZE}'")
endif()
