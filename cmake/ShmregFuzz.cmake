# The libFuzzer build (SHMREG_FUZZ=ON; preset `fuzz`, run by scripts/fuzz.sh):
# the fuzz targets of tests/fuzz/ and only what they reach, built by clang 16
# with coverage instrumentation, ASan and UBSan, against the same libstdc++
# as the product.
#
# libFuzzer ships with clang, not GCC. Clang 16 compiles libstdc++ 12's
# <expected> once told that it has the language feature the header checks
# for: the header defines std::expected only when __cpp_concepts >= 202002L
# (conditionally trivial special members, P0848), which clang implements
# since 16 but announces only from 19. Hence the macro below. The other way,
# clang 16 with its own libc++ 16, is unsound here: libc++ 16's std::expected
# lets the value's tail padding overwrite its has-value flag, so
# SegmentWriter::insert (Result<InsertResult>) came back as an error.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
  message(FATAL_ERROR "SHMREG_FUZZ needs clang 16 or later (preset fuzz: clang++-16), not "
                      "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
endif()
if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 19)
  add_compile_options(-U__cpp_concepts -D__cpp_concepts=202002L)
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)

add_subdirectory(sys)
add_subdirectory(shm)
add_subdirectory(proto)
add_subdirectory(tests/fuzz)
