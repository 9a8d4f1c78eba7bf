// CPU instruction-set levels and the one runtime dispatch decision.
//
// The level is detected once (cpuid). SWIFTKV_CPU_LEVEL=scalar|avx2|avx512|amx
// caps it, so tests can run every kernel path on one machine.
#pragma once

namespace swiftkv {

enum class CpuLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAmx = 3 };

const char* cpu_level_name(CpuLevel level);
// Parses "scalar", "avx2", "avx512", "amx"; throws Error for anything else.
CpuLevel parse_cpu_level(const char* name);

// What this CPU supports (AVX-512 means F, BW, VL and BF16; AMX means
// AMX-BF16 with OS support for the tile state).
CpuLevel detected_cpu_level();
// The level kernels use: detected, capped by SWIFTKV_CPU_LEVEL and by
// set_cpu_level_cap(). Every kernel chooses its path from this value.
CpuLevel active_cpu_level();
// Caps the active level (tests use it); the cap cannot raise it above detection.
void set_cpu_level_cap(CpuLevel cap);

}  // namespace swiftkv
