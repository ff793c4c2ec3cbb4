# Helpers shared by every module's CMakeLists.txt.

# Warnings and CPU flags for Veil's own code (never for third-party headers).
function(veil_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(VEIL_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
endfunction()

# veil_module(NAME SOURCES ... DEPS ...) defines the static library veil_<NAME>.
function(veil_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(veil_${name} STATIC ${M_SOURCES})
  target_include_directories(veil_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(veil_${name} PUBLIC ${M_DEPS})
  veil_target_defaults(veil_${name})
  set_property(GLOBAL APPEND PROPERTY VEIL_MODULES veil_${name})
endfunction()

# veil_test(NAME SOURCES ... DEPS ...) defines a GoogleTest binary registered with ctest.
function(veil_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE ${T_DEPS} veil_testing GTest::gtest GTest::gtest_main)
  veil_target_defaults(${name})
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    # Two single-valued properties: a ';' inside one value would be split into separate arguments.
    PROPERTIES ENVIRONMENT "VEIL_SHARED_DIR=${VEIL_SHARED_DIR}"
               ENVIRONMENT_MODIFICATION "VEIL_BINARY_DIR=set:${PROJECT_BINARY_DIR}")
endfunction()

if(VEIL_BUILD_FUZZ)
  # Instrument Veil's own libraries for coverage-guided fuzzing.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
