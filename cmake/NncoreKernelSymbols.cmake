# The build check that keeps kernel sets apart (csrc/kernels/kernel_table.h): every
# kernel set's object files may export one symbol, nncore::kernels::<set>::table().
# Anything else global or weak (a template of a shared header instantiated outside the
# set's anonymous namespace, say) is one definition the linker would keep for all sets,
# so AVX-512 code could end up in the generic set. The build fails naming the symbol.
#
#   nncore_check_kernel_symbols(<check target> SETS <set>... )
#     each <set> must name an OBJECT library nncore_kernels_<set>.
# Needs nm (CMAKE_NM, found with the compiler); a missing nm is a configure error.

set(NNCORE_KERNEL_SYMBOLS_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/check_kernel_symbols.cmake)

function(nncore_check_kernel_symbols target)
  cmake_parse_arguments(ARG "" "" "SETS" ${ARGN})
  if(NOT CMAKE_NM)
    message(FATAL_ERROR "nncore: nm not found (CMAKE_NM is empty); it is needed to check "
                        "that kernel sets export only their table()")
  endif()
  set(args "")
  set(deps "")
  foreach(set IN LISTS ARG_SETS)
    list(APPEND args "-DOBJECTS_${set}=$<JOIN:$<TARGET_OBJECTS:nncore_kernels_${set}>,|>")
    list(APPEND deps nncore_kernels_${set} $<TARGET_OBJECTS:nncore_kernels_${set}>)
  endforeach()
  string(JOIN "|" sets ${ARG_SETS})
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${target}.ok)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DSETS=${sets} ${args} -DSTAMP=${stamp}
            -P ${NNCORE_KERNEL_SYMBOLS_SCRIPT}
    DEPENDS ${deps} ${NNCORE_KERNEL_SYMBOLS_SCRIPT}
    COMMENT "Checking that kernel sets export only table()"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${stamp})
endfunction()
