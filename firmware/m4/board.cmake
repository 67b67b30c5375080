# The emulated Cortex-M4 board image (kws_m4_board): m4/board.cc + the TFLM glue + TFLM with
# CMSIS-NN kernels + the generated model, linked by m4/board.ld into the flash and RAM budgets
# of KWS_M4_BOARD in hil/boards.yaml. hil/memory_map.py turns that entry into the linker's
# MEMORY regions and a header at configure time (re-run when boards.yaml changes); an image
# that does not fit fails the link with one line naming the region (m4/link_check.sh).
#
#   KWS_M4_BOARD         the hil/boards.yaml entry (nano33ble: the Cortex-M4F board)
#   KWS_M4_ICOUNT_SHIFT  QEMU's -icount shift the image counts instructions with (2^S ns
#                        each). The count does not depend on it; the guest's virtual clock
#                        (uptime, timeouts) does: 6 = 15.6 M instructions per virtual second,
#                        below what QEMU emulates on a loaded host (~100 M/s measured here), so
#                        the uptime never falls behind the host's clock (the soak test checks)
#   KWS_PYTHON           a Python with the project installed (default: the repo's .venv)
set(KWS_M4_BOARD nano33ble CACHE STRING "hil/boards.yaml board the M4 image is budgeted as")
set(KWS_M4_ICOUNT_SHIFT 6 CACHE STRING "QEMU -icount shift of the emulated board")
get_filename_component(_kws_repo ${CMAKE_CURRENT_SOURCE_DIR}/.. ABSOLUTE)
if(EXISTS ${_kws_repo}/.venv/bin/python)
  set(_kws_py_default ${_kws_repo}/.venv/bin/python)
else()
  set(_kws_py_default python3)
endif()
set(KWS_PYTHON ${_kws_py_default} CACHE FILEPATH "Python with the project installed")
set(KWS_BOARDS_FILE ${_kws_repo}/hil/boards.yaml CACHE FILEPATH "board facts")

set(_kws_m4_gen ${CMAKE_BINARY_DIR}/m4board)
execute_process(
  COMMAND ${KWS_PYTHON} -m hil.memory_map --board ${KWS_M4_BOARD} --out ${_kws_m4_gen}
    --boards-file ${KWS_BOARDS_FILE} --icount-shift ${KWS_M4_ICOUNT_SHIFT}
    --model-settings ${KWS_GENERATED_DIR}/model_settings.json
  WORKING_DIRECTORY ${_kws_repo}
  RESULT_VARIABLE _kws_rc ERROR_VARIABLE _kws_err OUTPUT_QUIET)
if(NOT _kws_rc EQUAL 0)
  string(STRIP "${_kws_err}" _kws_err)
  message(FATAL_ERROR "${_kws_err}")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${KWS_BOARDS_FILE}
  ${_kws_repo}/hil/memory_map.py
  ${KWS_GENERATED_DIR}/model_settings.json)

# Provenance (git sha, build time) in the reported version, re-stamped at every configure:
# one small object shared by the images (a new stamp recompiles it, not board.cc).
execute_process(COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/build_stamp.sh
  OUTPUT_VARIABLE _kws_stamp OUTPUT_STRIP_TRAILING_WHITESPACE)
add_library(kws_m4_version OBJECT m4/version_stamp.cc)
target_include_directories(kws_m4_version PRIVATE ${KWS_CORE_DIR})
target_compile_options(kws_m4_version PRIVATE ${KWS_WARNINGS})
target_compile_definitions(kws_m4_version PRIVATE "KWS_BUILD_STAMP=\"${_kws_stamp}\"")

# The model and its boot code: compiled once, linked into each image (only board.cc differs).
add_library(kws_m4_model OBJECT tflm/model_boot_generated.cc ${KWS_GENERATED_DIR}/model_data.cc)
target_include_directories(kws_m4_model PRIVATE ${_kws_m4_gen} ${KWS_GENERATED_DIR})
target_compile_options(kws_m4_model PRIVATE ${KWS_WARNINGS} -Wno-conversion)
target_link_libraries(kws_m4_model PRIVATE kws_tflm)

# kws_m4_board, and the test images with a planted one-value error (KWS_PLANT: 1 front-end,
# 2 model output) for showing that the HIL checks fail on this board (tests/, not shipped).
function(kws_m4_image name plant)
  add_executable(${name} m4/board.cc $<TARGET_OBJECTS:kws_m4_model>
    $<TARGET_OBJECTS:kws_m4_version>)
  target_include_directories(${name} PRIVATE ${_kws_m4_gen} ${KWS_GENERATED_DIR})
  target_compile_options(${name} PRIVATE ${KWS_WARNINGS} -Wno-conversion)
  target_compile_definitions(${name} PRIVATE KWS_PLANT=${plant})
  target_link_libraries(${name} PRIVATE kws_tflm)
  target_link_options(${name} PRIVATE -nostartfiles -L${_kws_m4_gen}
    -T${CMAKE_CURRENT_SOURCE_DIR}/m4/board.ld -Wl,--gc-sections -Wl,-Map=${name}.map)
  set_target_properties(${name} PROPERTIES
    CXX_LINKER_LAUNCHER "bash;${CMAKE_CURRENT_SOURCE_DIR}/m4/link_check.sh;${name};${KWS_BOARDS_FILE}"
    LINK_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/m4/board.ld;${_kws_m4_gen}/kws_m4_memory.ld")
endfunction()
kws_m4_image(kws_m4_board 0)
kws_m4_image(kws_m4_board_plant_frontend 1)
kws_m4_image(kws_m4_board_plant_output 2)
