#include "kernels/cpu_features.h"

#include <asm/prctl.h>
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {
namespace {

// Linux arch_prctl request (ARCH_REQ_XCOMP_PERM in <asm/prctl.h>) and the
// XSAVE state component number of AMX tile data (XCR0 bit 18).
constexpr int kArchReqXcompPerm = ARCH_REQ_XCOMP_PERM;
constexpr int kXfeatureXtiledata = 18;

// XCR0 bits the OS sets when it saves a register state on context switch.
constexpr uint64_t kXcr0Avx = (1u << 1) | (1u << 2);                       // SSE, AVX
constexpr uint64_t kXcr0Avx512 = (1u << 5) | (1u << 6) | (1u << 7);        // opmask, ZMM
constexpr uint64_t kXcr0Amx = (uint64_t{1} << 17) | (uint64_t{1} << 18);   // XTILECFG, XTILEDATA

bool bit(uint32_t reg, int index) { return (reg >> index) & 1u; }

uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t{edx} << 32) | eax;
}

// Asks Linux for permission to use the AMX tile data state in this process.
// Without it the first tile instruction raises SIGILL.
bool request_amx_permission() {
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

CpuLevel detect() {
  uint32_t eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return CpuLevel::kScalar;
  const bool osxsave = bit(ecx, 27);
  const bool avx = bit(ecx, 28);
  const bool fma = bit(ecx, 12);
  const bool f16c = bit(ecx, 29);
  if (!osxsave || !avx) return CpuLevel::kScalar;
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & kXcr0Avx) != kXcr0Avx) return CpuLevel::kScalar;

  uint32_t max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return CpuLevel::kScalar;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const uint32_t max_subleaf = eax;
  const bool avx2 = bit(ebx, 5);
  const bool avx512f = bit(ebx, 16);
  const bool avx512bw = bit(ebx, 30);
  const bool avx512vl = bit(ebx, 31);
  const bool amx_bf16 = bit(edx, 22);
  const bool amx_tile = bit(edx, 24);
  const bool amx_int8 = bit(edx, 25);
  bool avx512bf16 = false;
  if (max_subleaf >= 1) {
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    avx512bf16 = bit(eax, 5);
  }

  if (!avx2 || !fma || !f16c) return CpuLevel::kScalar;
  const bool avx512 = avx512f && avx512bw && avx512vl && avx512bf16 &&
                      (xcr0 & kXcr0Avx512) == kXcr0Avx512;
  if (!avx512) return CpuLevel::kAvx2;

  const bool amx = amx_tile && amx_bf16 && amx_int8 && (xcr0 & kXcr0Amx) == kXcr0Amx;
  if (!amx) return CpuLevel::kAvx512;
  if (!request_amx_permission()) {
    SKV_LOG_WARN("cpu", "the kernel refused AMX tile permission (arch_prctl: %s); using avx512",
                 std::strerror(errno));
    return CpuLevel::kAvx512;
  }
  return CpuLevel::kAmx;
}

CpuLevel min_level(CpuLevel a, CpuLevel b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

// Cap from set_cpu_level_cap(); kAmx means no cap.
std::atomic<CpuLevel> g_cap{CpuLevel::kAmx};

// Cap from SWIFTKV_CPU_LEVEL, read once; kAmx when the variable is unset.
CpuLevel env_cap() {
  static const CpuLevel cap = [] {
    const char* value = std::getenv("SWIFTKV_CPU_LEVEL");
    if (value == nullptr || value[0] == '\0') return CpuLevel::kAmx;
    return parse_cpu_level(value);
  }();
  return cap;
}

}  // namespace

const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::kScalar: return "scalar";
    case CpuLevel::kAvx2: return "avx2";
    case CpuLevel::kAvx512: return "avx512";
    case CpuLevel::kAmx: return "amx";
  }
  return "unknown";
}

CpuLevel parse_cpu_level(const char* name) {
  for (CpuLevel level : {CpuLevel::kScalar, CpuLevel::kAvx2, CpuLevel::kAvx512, CpuLevel::kAmx}) {
    if (std::strcmp(name, cpu_level_name(level)) == 0) return level;
  }
  fail("invalid CPU level '%s': expected scalar, avx2, avx512 or amx (SWIFTKV_CPU_LEVEL)", name);
}

CpuLevel detected_cpu_level() {
  static const CpuLevel level = [] {
    const CpuLevel detected = detect();
    SKV_LOG_DEBUG("cpu", "detected CPU level: %s", cpu_level_name(detected));
    return detected;
  }();
  return level;
}

CpuLevel active_cpu_level() {
  return min_level(min_level(detected_cpu_level(), env_cap()), g_cap.load());
}

void set_cpu_level_cap(CpuLevel cap) { g_cap.store(cap); }

}  // namespace swiftkv
