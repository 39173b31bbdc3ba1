// The compiler- and OS-specific constructs fastloss needs, each spelled once here for GCC and
// clang (Linux, macOS, MinGW, zig) and for MSVC (Windows). On GCC and clang every macro
// expands to exactly what the sources spelled before, so Linux builds are unchanged.
//
// The first part is macros only: per-target kernel sources use it, and nothing there may
// bring in code compiled once per target that the linker could merge across targets.
#pragma once

#if defined(_MSC_VER) && !defined(__clang__)
#define FASTLOSS_MSVC 1
#endif

// Inlining that the vectorizer depends on: a kernel loop's body must be one function.
// MSVC has no attribute for a lambda's call operator; it inlines small lambdas anyway.
#ifdef FASTLOSS_MSVC
#define FASTLOSS_INLINE __forceinline
#define FASTLOSS_LAMBDA_INLINE
#else
#define FASTLOSS_INLINE inline __attribute__((always_inline))
#define FASTLOSS_LAMBDA_INLINE __attribute__((always_inline))
#endif

// FASTLOSS_UNROLL(n) before a loop: unroll it n times (MSVC has no such pragma).
#ifdef FASTLOSS_MSVC
#define FASTLOSS_UNROLL(n)
#else
#define FASTLOSS_PRAGMA(text) _Pragma(#text)
#define FASTLOSS_UNROLL(n) FASTLOSS_PRAGMA(GCC unroll n)
#endif

// FASTLOSS_PREFETCH(p): a hint to bring the cache line at p in for reading (never faults);
// FASTLOSS_PREFETCH_L2(p) into the outer caches only, for data read somewhat later;
// FASTLOSS_PREFETCH_WRITE(p) for writing (owned, so the stores need not fetch it).
#ifdef FASTLOSS_MSVC
#define FASTLOSS_PREFETCH(p) ((void)(p))
#define FASTLOSS_PREFETCH_L2(p) ((void)(p))
#define FASTLOSS_PREFETCH_WRITE(p) ((void)(p))
#else
#define FASTLOSS_PREFETCH(p) __builtin_prefetch(p)
#define FASTLOSS_PREFETCH_L2(p) __builtin_prefetch(p, 0, 1)
#define FASTLOSS_PREFETCH_WRITE(p) __builtin_prefetch(p, 1)
#endif

// Compile-time constants and single instructions, without <cmath> (whose functions would be
// compiled once per target). MSVC's own <limits> spells infinity __builtin_huge_val().
#ifdef FASTLOSS_MSVC
#include <math.h>
#define FASTLOSS_INFINITY __builtin_huge_val()
#define FASTLOSS_SQRT(x) sqrt(x)
#define FASTLOSS_FMA(a, b, c) fma(a, b, c)
#define FASTLOSS_FMAF(a, b, c) fmaf(a, b, c)
#else
#define FASTLOSS_INFINITY __builtin_inf()
#define FASTLOSS_SQRT(x) __builtin_sqrt(x)
#define FASTLOSS_FMA(a, b, c) __builtin_fma(a, b, c)
#define FASTLOSS_FMAF(a, b, c) __builtin_fmaf(a, b, c)
#endif

// The target has a fused multiply-add instruction. MSVC defines no __FMA__: its /arch:AVX2
// (and /arch:AVX512) imply FMA, and every Arm64 CPU has it.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || \
    (defined(FASTLOSS_MSVC) && (defined(__AVX2__) || defined(_M_ARM64)))
#define FASTLOSS_HAVE_FMA 1
#endif

// SSE2 (streaming stores): every x86-64 CPU; MSVC does not define __SSE2__ for x64.
#if defined(__SSE2__) || (defined(FASTLOSS_MSVC) && defined(_M_X64))
#define FASTLOSS_HAVE_SSE2 1
#endif

// The second part is for the baseline runtime (dispatch, threads), never per-target code.
#ifndef FASTLOSS_TARGET_NS

#include <stdint.h>

#if defined(__x86_64__) || defined(_M_X64)
#ifdef FASTLOSS_MSVC
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#ifdef _WIN32
#include <chrono>
#else
#include <pthread.h>
#include <time.h>
#endif

namespace fastloss {
namespace portable {

#if defined(__x86_64__) || defined(_M_X64)
// The x86 features a SIMD target needs, from CPUID and XGETBV: the CPU must have the
// instructions and the OS must save their registers (XCR0) across context switches.
// GCC's __builtin_cpu_supports does the same but is absent from MSVC, and zig's compiler
// runtime answers false for every feature.
struct X86Features {
  bool avx2_fma = false;  // AVX2, FMA and F16C (every AVX2 CPU has it), with the YMM state enabled
  bool avx512 = false;    // AVX-512 F, BW, DQ and VL, with the ZMM and opmask state enabled
};

inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
#ifdef FASTLOSS_MSVC
  int r[4];
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<uint32_t>(r[i]);
#else
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

inline uint64_t enabled_register_state() {  // XCR0; only valid when CPUID reports OSXSAVE
#ifdef FASTLOSS_MSVC
  return _xgetbv(0);
#else
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t{edx} << 32) | eax;
#endif
}

inline X86Features x86_features() {
  X86Features f;
  uint32_t r[4];  // eax, ebx, ecx, edx
  cpuid(0, 0, r);
  const uint32_t max_leaf = r[0];
  if (max_leaf < 7) return f;
  cpuid(1, 0, r);
  const bool fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, f16c = (r[2] >> 29) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = enabled_register_state();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;            // SSE and AVX registers
  const bool zmm_state = ymm_state && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM 0-15 high, ZMM 16-31
  cpuid(7, 0, r);
  const uint32_t ebx = r[1];
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
  f.avx2_fma = ymm_state && avx2 && fma && f16c;
  f.avx512 = f.avx2_fma && zmm_state && avx512f && avx512dq && avx512bw && avx512vl;
  return f;
}
#endif

// Milliseconds on a monotonic clock, read between a parallel loop's chunks. Linux's coarse
// clock costs a quarter of a precise one (about 5 ns against 20), and its resolution (a few
// ms) is plenty for the poll interval.
inline int64_t monotonic_ms() {
#ifdef _WIN32
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
#else
  timespec now;
#ifdef CLOCK_MONOTONIC_COARSE
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
#else
  clock_gettime(CLOCK_MONOTONIC, &now);
#endif
  return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
#endif
}

// Runs `handler` in the child process after every fork(); false if it could not be
// registered. Windows has no fork, so there is nothing to handle.
inline bool at_fork_in_child(void (*handler)()) {
#ifdef _WIN32
  (void)handler;
  return true;
#else
  return pthread_atfork(nullptr, nullptr, handler) == 0;
#endif
}

}  // namespace portable
}  // namespace fastloss

#endif  // FASTLOSS_TARGET_NS
