# TFLM as a static library from a tree made by firmware/tflm/third_party.sh (TFLM's own
# create_tflm_tree.py: reference kernels on the host, CMSIS-NN kernels for Cortex-M4F), and
# the microfrontend C library from the tflite-micro sources (kissfft in 16-bit fixed point,
# as TensorFlow's audio_microfrontend op builds it). Only the kernels the firmware's op
# resolver registers are compiled: KWS_TFLM_KERNELS names their files, one group per line
# of firmware/core/supported_ops.def (a missing one fails the link of tflm_engine.cc).
#
#   KWS_THIRD_PARTY  <out> of third_party.sh (src/ and tree-<host|m4>/)
set(KWS_TFLM_KERNELS
  conv             # CONV_2D
  depthwise_conv   # DEPTHWISE_CONV_2D
  fully_connected  # FULLY_CONNECTED
  softmax          # SOFTMAX
  reshape          # RESHAPE
  pooling          # AVERAGE_POOL_2D, MAX_POOL_2D
  reduce           # MEAN
  add              # ADD
  quantize         # QUANTIZE
  dequantize)      # DEQUANTIZE

if(KWS_M4)
  set(KWS_TFLM_TREE ${KWS_THIRD_PARTY}/tree-m4)
else()
  set(KWS_TFLM_TREE ${KWS_THIRD_PARTY}/tree-host)
endif()
set(KWS_TFLM_SRC ${KWS_THIRD_PARTY}/src/tflite-micro)
if(NOT EXISTS ${KWS_TFLM_TREE}/.kws-stamp)
  message(FATAL_ERROR "${KWS_TFLM_TREE}: no TFLM tree (run firmware/tflm/third_party.sh)")
endif()

file(GLOB_RECURSE _tflm_all CONFIGURE_DEPENDS
  ${KWS_TFLM_TREE}/tensorflow/*.cc ${KWS_TFLM_TREE}/tensorflow/*.c
  ${KWS_TFLM_TREE}/third_party/cmsis_nn/*.c)
set(_tflm_srcs)
foreach(f IN LISTS _tflm_all)
  get_filename_component(_name ${f} NAME_WE)
  if(f MATCHES "/micro/kernels/")
    # kernel helpers, and the registered kernels (cmsis_nn/ replaces their reference files)
    set(_keep OFF)
    if(_name MATCHES "^(kernel_util|micro_tensor_utils)$")
      set(_keep ON)
    endif()
    foreach(k IN LISTS KWS_TFLM_KERNELS)
      if(_name MATCHES "^${k}(_common|_int8|_helpers)?$")
        set(_keep ON)
      endif()
    endforeach()
    if(_keep)
      list(APPEND _tflm_srcs ${f})
    endif()
  elseif(NOT f MATCHES "/(examples|benchmarks|python|testing|tools)/|_test\\.cc$|/micro/(test_helpers|test_helper_custom_ops|fake_micro_context|mock_micro_graph|recording_micro_allocator)\\.cc$")
    list(APPEND _tflm_srcs ${f})
  endif()
endforeach()

set(_fe ${KWS_TFLM_SRC}/tensorflow/lite/experimental/microfrontend/lib)
add_library(tflm STATIC ${_tflm_srcs}
  ${_fe}/fft.cc ${_fe}/fft_util.cc ${_fe}/kiss_fft_int16.cc
  ${_fe}/filterbank.c ${_fe}/filterbank_util.c ${_fe}/frontend.c ${_fe}/frontend_util.c
  ${_fe}/log_lut.c ${_fe}/log_scale.c ${_fe}/log_scale_util.c
  ${_fe}/noise_reduction.c ${_fe}/noise_reduction_util.c
  ${_fe}/pcan_gain_control.c ${_fe}/pcan_gain_control_util.c
  ${_fe}/window.c ${_fe}/window_util.c)
# The tree's own headers first; the microfrontend's from the tflite-micro sources.
target_include_directories(tflm SYSTEM PUBLIC
  ${KWS_TFLM_TREE}
  ${KWS_TFLM_TREE}/third_party/flatbuffers/include
  ${KWS_TFLM_TREE}/third_party/gemmlowp
  ${KWS_TFLM_TREE}/third_party/ruy
  ${KWS_TFLM_TREE}/third_party/kissfft)
target_include_directories(tflm SYSTEM PRIVATE ${KWS_TFLM_SRC})
if(KWS_M4)
  # cortex_m_generic/micro_time.cc reads the DWT through a CMSIS device header the tree does
  # not carry; TFLM's own PROJECT_GENERATION stubs instead (the firmware times inference
  # through its Clock seam, never TFLM's profiler).
  set_source_files_properties(
    ${KWS_TFLM_TREE}/tensorflow/lite/micro/cortex_m_generic/micro_time.cc
    PROPERTIES COMPILE_DEFINITIONS PROJECT_GENERATION)
  target_include_directories(tflm SYSTEM PUBLIC
    ${KWS_TFLM_TREE}/third_party/cmsis_nn
    ${KWS_TFLM_TREE}/third_party/cmsis_nn/Include
    ${KWS_TFLM_TREE}/third_party/cmsis/CMSIS/Core/Include)
  target_compile_definitions(tflm PUBLIC CMSIS_NN)
endif()
# Parsing the flatbuffers schema (schema_generated.h, which kernel_util.h and the allocator
# pull in) is ~6 s of the ~7 s each TFLM C++ file takes with arm-none-eabi-g++ here: parsed
# once, as a precompiled header (C++ only; not the microfrontend's files, nor micro_time.cc,
# whose definitions differ). Measured 2026-11-30: kernels/conv.cc 7.5 -> 2.4 s CPU (host g++);
# the M4 library and images 6.8 -> 3.7 min CPU; the image's sizes unchanged.
set(_tflm_pch_headers
  ${KWS_TFLM_TREE}/tensorflow/compiler/mlir/lite/schema/schema_generated.h
  ${KWS_TFLM_TREE}/tensorflow/lite/micro/kernels/kernel_util.h
  ${KWS_TFLM_TREE}/tensorflow/lite/micro/micro_allocator.h
  ${KWS_TFLM_TREE}/tensorflow/lite/kernels/internal/common.h)
foreach(h IN LISTS _tflm_pch_headers)
  target_precompile_headers(tflm PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${h}>")
endforeach()
set_source_files_properties(
  ${_fe}/fft.cc ${_fe}/fft_util.cc ${_fe}/kiss_fft_int16.cc
  ${KWS_TFLM_TREE}/tensorflow/lite/micro/cortex_m_generic/micro_time.cc
  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)

# TFLM's own flags (tools/make/Makefile): static memory, no RTTI/exceptions. Optimised even
# in Debug builds (reference kernels at -O0 make the host board slow), without debug info
# (-g0: a shorter first build; not measured here).
target_compile_definitions(tflm PUBLIC TF_LITE_STATIC_MEMORY TF_LITE_DISABLE_X86_NEON)
target_compile_options(tflm PRIVATE -O2 -g0 -w
  $<$<COMPILE_LANGUAGE:CXX>:-fno-rtti -fno-exceptions -fno-threadsafe-statics>)
target_compile_options(tflm PUBLIC
  $<$<COMPILE_LANGUAGE:CXX>:-fno-rtti -fno-exceptions -fno-threadsafe-statics>)

# The firmware's TFLM glue (engine, front-end, model boot), -Werror like the core.
add_library(kws_tflm STATIC
  ${CMAKE_CURRENT_LIST_DIR}/tflm_engine.cc
  ${CMAKE_CURRENT_LIST_DIR}/micro_frontend.cc
  ${CMAKE_CURRENT_LIST_DIR}/model_boot.cc)
target_include_directories(kws_tflm PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_include_directories(kws_tflm SYSTEM PUBLIC ${KWS_TFLM_SRC})  # microfrontend headers
target_compile_options(kws_tflm PRIVATE ${KWS_WARNINGS} -Wno-conversion ${KWS_SAN})
target_link_libraries(kws_tflm PUBLIC kws_core tflm)
