# cmake -DLIB=libtix.a -DMAP=libtix.map -DLD=ld -DOBJCOPY=objcopy -DAR=ar -P libtix_localize.cmake
# Turns libtix.a into one object whose only global symbols are tix.h's
# functions (those libtix.map exports from libtix.so): an application that
# defines its own xmalloc, or links its own copy of the protobuf-c code
# generated from tix.proto, links with libtix.a without a clash.
file(READ ${MAP} map)
string(REGEX MATCHALL "tix_[a-z_]+;" names "${map}")
string(REPLACE ";;" "\n" names "${names}")
string(REPLACE ";" "\n" names "${names}")
get_filename_component(dir ${LIB} DIRECTORY)
set(obj ${dir}/libtix_all.o)
file(WRITE ${dir}/libtix.syms "${names}")
execute_process(COMMAND ${LD} -r --whole-archive ${LIB} -o ${obj} COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${OBJCOPY} --keep-global-symbols=${dir}/libtix.syms ${obj} COMMAND_ERROR_IS_FATAL ANY)
file(REMOVE ${LIB})
execute_process(COMMAND ${AR} rcs ${LIB} ${obj} COMMAND_ERROR_IS_FATAL ANY)
file(REMOVE ${obj})
