// Thread count used by every kernel. Defaults to OpenMP's (so OMP_NUM_THREADS is respected).
#pragma once

namespace fastloss {

// Throws std::invalid_argument when n < 1.
void set_num_threads(int n);
int get_num_threads();

}  // namespace fastloss
