# Per-target kernel compilation, NumPy-dispatch style.
#
# Every kernel source is compiled once per SIMD target of the host architecture into an
# OBJECT library whose code lives in namespace fastloss::<target> (FASTLOSS_TARGET_NS).
# The dispatcher (compiled for the baseline) picks one target's tables at run time.

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(FASTLOSS_TARGETS baseline avx2 avx512)
  set(FASTLOSS_FLAGS_baseline "")
  set(FASTLOSS_FLAGS_avx2 -mavx2 -mfma)
  set(FASTLOSS_FLAGS_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma
      -mprefer-vector-width=512)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
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
set(FASTLOSS_KERNEL_FLAGS -O3 -fno-trapping-math -fno-math-errno -ffp-contract=off -fopenmp-simd
    -fno-semantic-interposition)

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
