// Interface between the attention dispatcher (attention.cpp) and the AMX
// prefill kernel (attention_amx.cpp), which runs many query rows of one
// sequence as bf16 tile matrix products. Callers must check the CPU level.
#pragma once

#include <cstdint>

#include "kernels/attention.h"

namespace swiftkv::attention_detail {

// Query rows of one sequence: `count` rows that share keys, values and block
// table (prefill rows of a chunk). Each row keeps its own n.
struct PrefillRun {
  const AttentionRow* rows;
  int64_t count;
};

// Requires CpuLevel::kAmx and DH % 32 == 0. Scores and weighted values are
// bf16 products with float32 accumulation, and the softmax runs in float32.
void attend_prefill_amx(const PrefillRun* runs, int64_t run_count, int64_t row_stride, int64_t H, int64_t HKV,
                        int64_t DH, bool parallel);

}  // namespace swiftkv::attention_detail
