# Every third-party package comes from Debian 12; this is the one place that finds them.
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka>=2.0)
find_package(simdjson REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(RocksDB 7.8 REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED) # Debian ships no version file
find_package(civetweb CONFIG REQUIRED)       # the HTTP listener (also under prometheus-cpp)
find_package(Threads REQUIRED)

# Debian's libcaf-dev (0.17.6) installs neither a CMake package nor a .pc file.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
add_library(CAF::core UNKNOWN IMPORTED)
set_target_properties(CAF::core PROPERTIES
  IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
target_link_libraries(CAF::core INTERFACE Threads::Threads)

# jemalloc replaces glibc malloc in the executables: actor messages are
# allocated on one thread and freed on another, the pattern glibc's arenas
# handle worst (bench/engine_bench measured about 2x throughput with it).
find_library(JEMALLOC_LIBRARY jemalloc REQUIRED)
