# Selective AddressSanitizer + UBSan for CI (preset "asan-ci", scripts/asan-ci.sh).
#
# Only the sources under the listed src/ folders are instrumented; every other source compiles with
# exactly the release preset's command line, so ccache serves it from the release build made just
# before (CCACHE_NOHASHDIR=1: the build directory is not part of the hash), and the job fits CI's
# time. Every executable links the sanitizer runtimes. Uninstrumented code is not checked, and
# container-overflow checks must be off (std::vector annotated on one side only gives false alarms):
# scripts/asan-ci.sh sets ASAN_OPTIONS accordingly. The whole-program build is preset "asan".
set(VEIL_SANITIZE_DIRS "" CACHE STRING
    "folders under src/ (e.g. transport;he;designs/he_lora) compiled with -fsanitize=address,undefined")
if(VEIL_SANITIZE_DIRS)
  add_link_options(-fsanitize=address,undefined)
endif()

# Called once every module is defined (top-level CMakeLists.txt).
function(veil_apply_sanitizers)
  if(NOT VEIL_SANITIZE_DIRS)
    return()
  endif()
  set(flags -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  get_property(modules GLOBAL PROPERTY VEIL_MODULES)
  set(count 0)
  foreach(target IN LISTS modules)
    get_target_property(sources ${target} SOURCES)
    get_target_property(target_dir ${target} SOURCE_DIR)
    foreach(source IN LISTS sources)
      cmake_path(ABSOLUTE_PATH source BASE_DIRECTORY "${target_dir}" NORMALIZE OUTPUT_VARIABLE absolute)
      foreach(dir IN LISTS VEIL_SANITIZE_DIRS)
        string(FIND "${absolute}" "${PROJECT_SOURCE_DIR}/src/${dir}/" at)
        if(at EQUAL 0)
          set_source_files_properties("${absolute}" TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS "${flags}")
          math(EXPR count "${count} + 1")
          break()
        endif()
      endforeach()
    endforeach()
  endforeach()
  message(STATUS "veil: ${count} sources instrumented with ASan+UBSan (${VEIL_SANITIZE_DIRS})")
endfunction()
