// Run-time introspection (SIMD targets, threads) and the unary array math functions.
#include "pybind.hpp"

#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/dispatch.hpp"
#include "fastloss/threading.hpp"
#include "fastloss/unary.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

std::vector<std::string> names(const std::vector<Target>& targets) {
  std::vector<std::string> out;
  for (Target t : targets) out.emplace_back(target_name(t));
  return out;
}

py::array apply_unary(UnaryOp op, const py::handle& x, const py::handle& out) {
  FloatArray in = float_array(x, "input");
  FloatArray result = output_array(out, in.shape, in.dtype, {&in}, &in);
  {
    py::gil_scoped_release release;  // pure C++ over buffers kept alive above
    unary(op, in.dtype, Shape{static_cast<int>(in.shape.size()), in.shape.data()},
          ConstView{in.data(), in.strides.data()},
          MutableView{result.array.mutable_data(), result.strides.data()});
  }
  return result.array;
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

  py::native_enum<UnaryOp> ops(m, "UnaryOp", "enum.Enum", "Unary array math functions.");
#define FASTLOSS_ENUM_VALUE(name) ops.value(#name, UnaryOp::name);
  FASTLOSS_UNARY_OPS(FASTLOSS_ENUM_VALUE)
#undef FASTLOSS_ENUM_VALUE
  ops.finalize();
  m.def("unary", &apply_unary, py::arg("op"), py::arg("x"), py::arg("out") = py::none(),
        "op(x) elementwise; out may be x itself.");
}

}  // namespace bindings
}  // namespace fastloss
