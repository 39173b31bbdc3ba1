# Per-target kernel compilation, NumPy-dispatch style.
#
# Every kernel source is compiled once per SIMD target of the host architecture into an
# OBJECT library whose code lives in namespace fastloss::<target> (FASTLOSS_TARGET_NS).
# The dispatcher (compiled for the baseline) picks one target's tables at run time.

# The architecture the kernels are compiled for: the one CMAKE_OSX_ARCHITECTURES names (a
# macOS wheel built for arm64 on an x86-64 machine, as cibuildwheel does), else the processor.
# A universal2 build would need the x86 and Arm targets in one object file: not supported.
set(_fastloss_arch "${CMAKE_SYSTEM_PROCESSOR}")
if(APPLE AND CMAKE_OSX_ARCHITECTURES)
  list(LENGTH CMAKE_OSX_ARCHITECTURES _fastloss_arch_count)
  if(NOT _fastloss_arch_count EQUAL 1)
    message(FATAL_ERROR "fastloss builds one architecture at a time, not "
                        "CMAKE_OSX_ARCHITECTURES='${CMAKE_OSX_ARCHITECTURES}'")
  endif()
  set(_fastloss_arch "${CMAKE_OSX_ARCHITECTURES}")
endif()

if(_fastloss_arch MATCHES "^(x86_64|AMD64|amd64)$")
  set(FASTLOSS_TARGETS baseline avx2 avx512)
  set(FASTLOSS_FLAGS_baseline "")
  if(MSVC)
    # /arch:AVX2 lets MSVC use FMA as well; /arch:AVX512 means F, CD, BW, DQ and VL.
    set(FASTLOSS_FLAGS_avx2 /arch:AVX2)
    set(FASTLOSS_FLAGS_avx512 /arch:AVX512)
  else()
    # -mf16c: float16's conversion instructions (kernels/half_kernels.cc).
    set(FASTLOSS_FLAGS_avx2 -mavx2 -mfma -mf16c)
    set(FASTLOSS_FLAGS_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma
        -mprefer-vector-width=512)
  endif()
elseif(_fastloss_arch MATCHES "^(aarch64|arm64|ARM64)$")
  set(FASTLOSS_TARGETS neon)
  set(FASTLOSS_FLAGS_neon "")
else()
  set(FASTLOSS_TARGETS baseline)
  set(FASTLOSS_FLAGS_baseline "")
endif()

# -fno-trapping-math lets GCC if-convert (and so vectorize) the branch-free selects;
# -fno-math-errno keeps sqrt and friends inline. Never -ffast-math: NaN and inf keep their
# meaning. -fopenmp-simd honours `#pragma omp simd` without the OpenMP runtime.
# -ffp-contract=off: the compiler may not fuse a multiply and an add on its own, since it
# would do so in one loop of a kernel and not in another (a vectorised body and its scalar
# remainder, the backward and the fused pass), and their results would differ in the last
# bits. FMA is used where it pays through math::mul_add, the same in every loop.
#
# MSVC: /fp:precise (its default) keeps NaN and inf and, since Visual Studio 2022, never
# contracts (that takes /fp:contract). Its `omp simd` (/openmp:experimental) would turn on
# /fp:fast inside the loops, so kernels get no /openmp and MSVC ignores the pragmas: the
# kernels stay exact, vectorized only where MSVC's own vectorizer manages.
if(MSVC)
  set(FASTLOSS_KERNEL_FLAGS /O2 /fp:precise)
else()
  set(FASTLOSS_KERNEL_FLAGS -O3 -fno-trapping-math -fno-math-errno -ffp-contract=off
      -fopenmp-simd -fno-semantic-interposition)
endif()

set(FASTLOSS_TARGET_DEFINITIONS "")
foreach(_t IN LISTS FASTLOSS_TARGETS)
  string(TOUPPER "${_t}" _T)
  list(APPEND FASTLOSS_TARGET_DEFINITIONS FASTLOSS_HAVE_TARGET_${_T}=1)
endforeach()

# fastloss_add_kernel_objects(<prefix> <sources>) defines <prefix>_<target> object libraries
# and sets FASTLOSS_KERNEL_OBJECTS (generator expressions) and FASTLOSS_KERNEL_OBJECT_LIBS.
function(fastloss_add_kernel_objects prefix sources)
  set(_objects "")
  set(_libs "")
  foreach(_t IN LISTS FASTLOSS_TARGETS)
    set(_lib ${prefix}_${_t})
    add_library(${_lib} OBJECT ${sources})
    target_include_directories(${_lib} PRIVATE ${PROJECT_SOURCE_DIR}/cpp/include
                                               ${PROJECT_SOURCE_DIR}/cpp/src)
    target_compile_definitions(${_lib} PRIVATE FASTLOSS_TARGET_NS=${_t})
    target_compile_options(${_lib} PRIVATE ${FASTLOSS_KERNEL_FLAGS} ${FASTLOSS_FLAGS_${_t}}
                                           ${FASTLOSS_WARNINGS})
    list(APPEND _objects $<TARGET_OBJECTS:${_lib}>)
    list(APPEND _libs ${_lib})
  endforeach()
  set(FASTLOSS_KERNEL_OBJECTS ${_objects} PARENT_SCOPE)
  set(FASTLOSS_KERNEL_OBJECT_LIBS ${_libs} PARENT_SCOPE)
endfunction()
