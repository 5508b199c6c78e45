# Configures the project with its defaults in a scratch directory and fails
# if fuzzing or sanitizers leak into the default build: MM_FUZZ and
# MM_SANITIZE off, no fuzz targets, no -fsanitize in any compile or link
# line. Run by ctest in default builds (tests/CMakeLists.txt):
#   cmake -DSOURCE_DIR=<src> -DSCRATCH_DIR=<dir> -DCXX=<compiler>
#         -P check_default_build.cmake
foreach(var SOURCE_DIR SCRATCH_DIR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${SCRATCH_DIR}")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${SCRATCH_DIR}"
          -DCMAKE_CXX_COMPILER=${CXX}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "default configure failed:\n${out}")
endif()

file(STRINGS "${SCRATCH_DIR}/CMakeCache.txt" fuzz REGEX "^MM_FUZZ:")
file(STRINGS "${SCRATCH_DIR}/CMakeCache.txt" sanitize
     REGEX "^MM_SANITIZE:")
if(NOT fuzz STREQUAL "MM_FUZZ:BOOL=OFF")
  message(FATAL_ERROR "MM_FUZZ is not OFF by default: ${fuzz}")
endif()
if(NOT sanitize STREQUAL "MM_SANITIZE:STRING=")
  message(FATAL_ERROR "MM_SANITIZE is not empty by default: ${sanitize}")
endif()

if(EXISTS "${SCRATCH_DIR}/tests/fuzz")
  message(FATAL_ERROR "the default build configures the fuzz targets")
endif()

# The generated build files of every target: compile flags, link lines.
file(GLOB_RECURSE build_files "${SCRATCH_DIR}/*/flags.make"
     "${SCRATCH_DIR}/*/link.txt" "${SCRATCH_DIR}/build.ninja")
if(NOT build_files)
  message(FATAL_ERROR "no generated build files found in ${SCRATCH_DIR}")
endif()
foreach(f ${build_files})
  file(STRINGS "${f}" hits REGEX "-fsanitize")
  if(hits)
    message(FATAL_ERROR "default build instrumented or fuzzing in ${f}:\n"
                        "${hits}")
  endif()
endforeach()
list(LENGTH build_files n)
message(STATUS "default build clean: ${n} build files without -fsanitize")
file(REMOVE_RECURSE "${SCRATCH_DIR}")
