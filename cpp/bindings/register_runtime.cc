// Run-time introspection and settings: SIMD targets, threads.
#include "pybind.hpp"

#include <string>
#include <vector>

#include "fastloss/dispatch.hpp"
#include "fastloss/threading.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

std::vector<std::string> names(const std::vector<Target>& targets) {
  std::vector<std::string> out;
  for (Target t : targets) out.emplace_back(target_name(t));
  return out;
}

}  // namespace

void register_runtime(py::module_& m) {
  m.def("simd_target", [] { return std::string(target_name(active_target())); },
        "The SIMD target kernels run on (e.g. 'avx2').");
  m.def("compiled_targets", [] { return names(compiled_targets()); },
        "SIMD targets compiled into this build, lowest first.");
  m.def("supported_targets", [] { return names(supported_targets()); },
        "Compiled SIMD targets this CPU can run, lowest first.");
  m.def("force_target", &force_target, py::arg("name"),
        "Run kernels on the named compiled target (testing; FASTLOSS_TARGET does this at start).");
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Threads used by every kernel.");
  m.def("get_num_threads", &get_num_threads, "Threads used by every kernel.");
}

}  // namespace bindings
}  // namespace fastloss
