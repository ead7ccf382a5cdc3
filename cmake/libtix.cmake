# libtix as installed: libtix.so (soname libtix.so.0) and libtix.a, both
# holding everything the client needs from common/ and proto/, tix.h alone
# as the header, tix.pc and the CMake package tix (tix::tix).
# The in-tree `tix` archive (CLI, tix-rush, tests) is separate: it links the
# project's own archives and sees the internals through tix_priv.h.
set(TIX_LIB_SRC ${TIX_CLIENT_SRC} ${TIX_COMMON_SRC} ${TIX_GEN_SRC} ${TIX_PROTO_SRC})
set(TIX_LIB_INCLUDES ${CMAKE_SOURCE_DIR}/clients/libtix ${CMAKE_SOURCE_DIR}/common ${CMAKE_SOURCE_DIR}/proto
                     ${TIX_GEN_DIR})
set(TIX_LIB_DEPS PkgConfig::CZMQ PkgConfig::ZMQ PkgConfig::PROTOBUFC)

# Only the functions of tix.h leave libtix.so: the version script names them
# and hides the rest (xmalloc, the codec, the generated descriptors).
set(TIX_EXPORTS ${CMAKE_SOURCE_DIR}/clients/libtix/libtix.map)
add_library(tix_shared SHARED ${TIX_LIB_SRC})
add_dependencies(tix_shared tix_version_gen) # tix_version.c's header
target_include_directories(tix_shared PRIVATE ${TIX_LIB_INCLUDES})
target_include_directories(tix_shared INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(tix_shared PRIVATE ${TIX_LIB_DEPS})
target_link_options(tix_shared PRIVATE -Wl,--version-script=${TIX_EXPORTS})
if(NOT TIX_SANITIZE AND NOT TIX_FUZZ) # clang leaves the sanitizer runtime to the executable
  target_link_options(tix_shared PRIVATE -Wl,--no-undefined)
endif()
set_target_properties(
  tix_shared
  PROPERTIES OUTPUT_NAME tix
             VERSION ${PROJECT_VERSION}
             SOVERSION ${PROJECT_VERSION_MAJOR}
             LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/libtix
             LINK_DEPENDS ${TIX_EXPORTS}
             EXPORT_NAME tix)
set_source_files_properties(${TIX_GEN_SRC} PROPERTIES COMPILE_OPTIONS "-Wno-pedantic")

add_library(tix_static STATIC ${TIX_LIB_SRC})
add_dependencies(tix_static tix_version_gen)
target_include_directories(tix_static PRIVATE ${TIX_LIB_INCLUDES})
target_include_directories(tix_static INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(tix_static PRIVATE ${TIX_LIB_DEPS})
set_target_properties(tix_static PROPERTIES OUTPUT_NAME tix ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/libtix
                                            EXPORT_NAME tix_static)
# The same for libtix.a: only tix.h's functions stay global (cmake/libtix_localize.cmake).
add_custom_command(
  TARGET tix_static
  POST_BUILD
  COMMAND ${CMAKE_COMMAND} -DLIB=$<TARGET_FILE:tix_static> -DMAP=${TIX_EXPORTS} -DLD=${CMAKE_LINKER}
          -DOBJCOPY=${CMAKE_OBJCOPY} -DAR=${CMAKE_AR} -P ${CMAKE_SOURCE_DIR}/cmake/libtix_localize.cmake
  VERBATIM)

install(FILES ${CMAKE_SOURCE_DIR}/clients/libtix/tix.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS tix_shared tix_static EXPORT tixTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
                                                      ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TARGET tix-cli)
  install(TARGETS tix-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# pkg-config: libtix's own dependencies are private (static linking only).
# The prefix is found from the .pc file's own place, so an install moved
# elsewhere (or made with `cmake --install --prefix`) still works.
file(RELATIVE_PATH TIX_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${CMAKE_SOURCE_DIR}/clients/libtix/tix.pc.in ${CMAKE_BINARY_DIR}/libtix/tix.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/libtix/tix.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake package: find_package(tix) gives tix::tix (shared) and tix::tix_static.
include(CMakePackageConfigHelpers)
set(TIX_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tix)
install(EXPORT tixTargets NAMESPACE tix:: DESTINATION ${TIX_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/clients/libtix/tixConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/libtix/tixConfig.cmake INSTALL_DESTINATION ${TIX_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/libtix/tixConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/libtix/tixConfig.cmake ${CMAKE_BINARY_DIR}/libtix/tixConfigVersion.cmake
        DESTINATION ${TIX_CMAKE_DIR})
