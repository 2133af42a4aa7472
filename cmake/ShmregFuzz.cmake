# The libFuzzer build (SHMREG_FUZZ=ON; preset `fuzz`, run by scripts/fuzz.sh):
# the fuzz targets of tests/fuzz/ and only what they reach, built by clang 16
# against libc++, with coverage instrumentation, ASan and UBSan.
#
# Why libc++: libFuzzer ships with clang, and clang 16 cannot compile
# libstdc++ 12's <expected>, which the project uses everywhere (it defines
# its class only for __cpp_concepts >= 202002L, which clang 16 does not
# claim). libc++ 16 has its own <expected>. Nothing built against libstdc++
# can be linked in, so this build makes the fuzzed code from source and
# leaves out the broker, the client library, the CLI, GoogleTest and the
# benchmarks.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
  message(FATAL_ERROR "SHMREG_FUZZ needs clang 16 or later (preset fuzz: clang++-16), not "
                      "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
endif()
add_compile_options(-stdlib=libc++ -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer)
add_link_options(-stdlib=libc++ -fsanitize=address,undefined)

add_subdirectory(sys)
add_subdirectory(shm)
add_subdirectory(proto)
add_subdirectory(tests/fuzz)
