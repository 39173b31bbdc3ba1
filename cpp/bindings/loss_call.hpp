// The body of every loss binding, written once: forward, backward and the fused pass of a
// call its family has prepared (operands checked and laid over the core's views), with the
// GIL released around the core, grad_output a scalar for reductions and an array for
// reduction='none', reduced losses as NumPy scalars of the call's float type (float32 for
// half inputs: the float64 sum rounded once), gradients into `out` where given.
#pragma once

#include "pybind.hpp"

#include <optional>
#include <string>
#include <vector>

#include "arrays.hpp"

namespace fastloss {
namespace bindings {

// A loss call prepared by its family (register_<family>.cc): the family's constructor checks
// every array argument and runs the core's value scans; these members say what the shared
// bodies need, and the three calls run the core (without the GIL).
class PreparedLoss {
 public:
  PreparedLoss() = default;
  PreparedLoss(const PreparedLoss&) = delete;  // the members below point into the family's own
  PreparedLoss& operator=(const PreparedLoss&) = delete;
  virtual ~PreparedLoss() = default;
  // reduction='none' writes each loss to loss_out (laid over loss_shape); otherwise the
  // reduced loss is returned.
  virtual double forward(MutableView loss_out) const = 0;
  // grads[k] (of grad_shapes[k]) = d loss / d k-th differentiable operand; grad_output is laid
  // over loss_shape for reduction='none', else grad_output_scalar applies.
  virtual void backward(ConstView grad_output, double grad_output_scalar, std::vector<FloatArray>& grads) const = 0;
  virtual double forward_backward(std::vector<FloatArray>& grads, MutableView loss_out) const = 0;
  // The reduced forward before its division (reduction != 'none').
  virtual ReducedLoss forward_parts() const = 0;

  DType dtype = DType::kFloat32;
  Reduction reduction = Reduction::kMean;
  std::vector<int64_t> loss_shape;
  // The shape torch gives the losses when it is not loss_shape (the engine's layout): only a
  // single sample, as multi_margin_loss's, whose losses take its target's shape, (1,) or ().
  std::optional<std::vector<int64_t>> returned_shape;
  std::vector<std::vector<int64_t>> grad_shapes;
  // The first gradient's `out` may be this very array; new results are stored as it is
  // (float16 or bfloat16 results of half inputs).
  const FloatArray* first_input = nullptr;
  std::vector<const FloatArray*> operands;  // every float array the call reads
};

py::object loss_forward(const PreparedLoss& call, const py::handle& out);
py::tuple loss_backward(const PreparedLoss& call, const py::handle& grad_output, const py::handle& out);
py::tuple loss_with_grad(const PreparedLoss& call, const py::handle& out);
py::tuple loss_forward_parts(const PreparedLoss& call);

// Defines <family>_forward(args..., out=None), <family>_backward(grad_output, args...,
// out=None) and <family>_with_grad(args..., out=None) on `m`: a Prepared, constructed from
// the family's arguments (of types Args, described by `descriptors`), through the bodies above.
template <class Prepared, class... Args>
struct LossBindings {
  template <class... Descriptors>
  static void define(py::module_& m, const std::string& family, const Descriptors&... descriptors) {
    m.def((family + "_forward").c_str(),
          [](Args... args, const py::handle& out) { return loss_forward(Prepared(args...), out); }, descriptors...,
          py::arg("out") = py::none(), "The loss: a NumPy scalar for reductions, an array for reduction='none'.");
    m.def((family + "_backward").c_str(),
          [](const py::handle& grad_output, Args... args, const py::handle& out) {
            return loss_backward(Prepared(args...), grad_output, out);
          },
          py::arg("grad_output"), descriptors..., py::arg("out") = py::none(),
          "The gradients of every differentiable operand; out (the first) may be the first input.");
    m.def((family + "_with_grad").c_str(),
          [](Args... args, const py::handle& out) { return loss_with_grad(Prepared(args...), out); }, descriptors...,
          py::arg("out") = py::none(), "(loss, *gradients) from one pass; out (the first) may be the first input.");
    m.def((family + "_forward_parts").c_str(), [](Args... args) { return loss_forward_parts(Prepared(args...)); },
          descriptors...,
          "(sum, denominator) of the reduced loss as Python floats: the float64 sum of the losses and what the "
          "reduction divides it by (1 for 'sum').");
  }
};

}  // namespace bindings
}  // namespace fastloss
