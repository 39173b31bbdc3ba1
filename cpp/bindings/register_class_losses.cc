// Bindings of the class losses (nll_loss, cross_entropy, softmax_focal_loss): every array
// argument is checked here, with torch's messages, and the targets scanned, before any work.
#include "pybind.hpp"

#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/class_losses.hpp"
#include "loss_call.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

// The class axis of an input: 0 for (C,), else 1 (torch's rule for the losses).
size_t class_axis_of(const std::vector<int64_t>& shape) { return shape.size() == 1 ? 0 : 1; }

// An array laid over rows of classes: its row strides and class stride.
struct RowLayout {
  std::vector<int64_t> row_strides;
  int64_t class_stride = 1;
  RowLayout() = default;
  RowLayout(const FloatArray& a, size_t axis)
      : row_strides(without_axis(a.strides, axis)), class_stride(a.strides[axis]) {}
};

class ClassPrepared : public PreparedLoss {
 public:
  ClassPrepared(ClassLoss loss, const py::handle& input, const py::handle& target, const py::handle& weight,
                const py::handle& alpha, Reduction reduction, const ClassLossOptions& options) {
    input_ = storage_array(input, "input");
    if (input_.shape.empty()) throw py::value_error("Expected 1 or more dimensions (got 0)");
    const size_t axis = class_axis_of(input_.shape);
    const int64_t classes = input_.shape[axis];
    rows_ = without_axis(input_.shape, axis);
    input_layout_ = RowLayout(input_, axis);
    call_.loss = loss;
    call_.dtype = input_.dtype;
    call_.shape = RowShape{Shape{static_cast<int>(rows_.size()), rows_.data()}, classes};
    call_.input = row_view(input_, input_layout_);
    call_.options = options;
    prepare_target(target, axis);
    weight_ = per_class(weight, "weight", classes, call_.weight, call_.weight_stride, call_.weight_stored,
                        "weight tensor should be defined either for all " + std::to_string(classes) +
                            " classes or no classes but got weight tensor of shape: ");
    alpha_ = per_class(alpha, "alpha", classes, call_.alpha, call_.alpha_stride, call_.alpha_stored,
                       "alpha must be a scalar or have shape (" + std::to_string(classes) +
                           ",) (one value per class), got shape ");
    check_targets();

    dtype = input_.dtype;
    this->reduction = reduction;
    loss_shape = rows_;
    grad_shapes = {input_.shape};
    first_input = &input_;
    operands = {&input_, &prob_target_, &weight_, &alpha_};
  }

  double forward(MutableView loss_out) const override { return class_loss_forward(call_, reduction, loss_out); }
  ReducedLoss forward_parts() const override { return class_loss_forward_parts(call_, reduction); }
  void backward(ConstView grad_output, double scalar, std::vector<FloatArray>& grads) const override {
    const RowLayout g(grads[0], class_axis_of(grads[0].shape));
    class_loss_backward(call_, reduction, grad_output, scalar, view(grads[0], g));
  }
  double forward_backward(std::vector<FloatArray>& grads, MutableView loss_out) const override {
    const RowLayout g(grads[0], class_axis_of(grads[0].shape));
    return class_loss_forward_backward(call_, reduction, view(grads[0], g), loss_out);
  }

  // (grad, hess) of the gradient-boosting objective, per row and class, weighted per row by
  // sample_weight; into `out` = (grad, hess) when given.
  py::tuple grad_hess(const py::handle& sample_weight, double hess_floor, const py::handle& out) const {
    if (call_.loss == ClassLoss::kNllLoss || call_.probability_targets())
      throw py::value_error("grad_hess takes cross_entropy and softmax_focal_loss with class-index targets");
    FloatArray weights = operand_array(sample_weight, "sample_weight", input_, /*allow_none=*/true);
    if (weights.present()) {
      if (weights.shape != rows_) {
        throw py::value_error("sample_weight must have the input's shape without the class axis, " +
                              shape_str(rows_) + ", got " + shape_str(weights.shape));
      }
    }
    py::object grad_out = py::none(), hess_out = py::none();
    if (!out.is_none()) {
      if (!py::isinstance<py::tuple>(out) || py::len(out) != 2)
        throw py::type_error("out must be a tuple (grad, hess) of two arrays");
      grad_out = out[py::int_(0)];
      hess_out = out[py::int_(1)];
    }
    std::vector<const FloatArray*> reads = operands;
    reads.push_back(&weights);
    FloatArray grad = output_array(grad_out, input_.shape, dtype, reads, nullptr, &input_);
    reads.push_back(&grad);  // hess may not overlap grad either
    FloatArray hess = output_array(hess_out, input_.shape, dtype, reads, nullptr, &input_);
    const size_t axis = class_axis_of(input_.shape);
    const RowLayout g(grad, axis), h(hess, axis);
    const ConstView weight_view = weights.present() ? weights.view() : ConstView{};
    {
      py::gil_scoped_release release;  // pure C++ over buffers this call keeps alive
      class_loss_grad_hess(call_, weight_view, hess_floor, view(grad, g), view(hess, h));
    }
    return py::make_tuple(grad.finish(), hess.finish());
  }

 private:
  static MutableRowView view(FloatArray& a, const RowLayout& layout) {
    return MutableRowView{MutableView{a.array.mutable_data(), layout.row_strides.data(), a.label}, layout.class_stride};
  }
  static RowView row_view(const FloatArray& a, const RowLayout& layout) {
    return RowView{ConstView{a.data(), layout.row_strides.data(), a.label}, layout.class_stride};
  }

  // Class probabilities when the target has the input's shape (torch's rule, cross_entropy
  // only), else class indices of the input's shape without the class axis.
  void prepare_target(const py::handle& target, size_t axis) {
    if (!py::isinstance<py::array>(target)) {
      throw py::type_error("target must be a numpy.ndarray, got " +
                           py::str(py::type::handle_of(target).attr("__name__")).cast<std::string>());
    }
    const py::array t = py::reinterpret_borrow<py::array>(target);
    const std::vector<int64_t> t_shape(t.shape(), t.shape() + t.ndim());
    if (call_.loss == ClassLoss::kCrossEntropy && t_shape == input_.shape) {
      if (t.dtype().kind() != 'f' && half_storage(t.dtype()) == LabelDType::kFloat) {
        throw py::type_error("Expected floating point type for target with class probabilities, got " +
                             py::str(t.dtype()).cast<std::string>());
      }
      if (call_.options.ignore_index >= 0)
        throw py::value_error("ignore_index is not supported for floating point target");
      prob_target_ = operand_array(target, "target", input_);
      prob_layout_ = RowLayout(prob_target_, axis);
      call_.prob_target = row_view(prob_target_, prob_layout_);
      return;
    }
    index_target_ = index_array(target, "target");
    const std::vector<int64_t>& got = index_target_.shape;
    if (input_.shape.size() == 1 && got.size() == 1) {
      // torch reads a (1,) target of an unbatched input as its one class index.
      if (got[0] != 1) {
        throw py::value_error("For 1D input, 1D target must have size 1, but got target size: " +
                              std::to_string(got[0]));
      }
    } else if (got != rows_) {
      if (input_.shape.size() == 2 && got.size() == 1) {
        throw py::value_error("Expected input batch_size (" + std::to_string(input_.shape[0]) +
                              ") to match target batch_size (" + std::to_string(got[0]) + ").");
      }
      throw py::value_error("Expected target size " + dims_str(rows_) + ", got " + dims_str(got) + " (input shape " +
                            shape_str(input_.shape) + ")");
    }
    call_.index_target = index_target_.view();
    call_.index_dtype = index_target_.dtype;
  }

  // An optional (C,) operand of the input's dtype (or float32 beside a half input), laid into
  // `data`, `stride` and `stored` when present.
  FloatArray per_class(const py::handle& obj, const char* name, int64_t classes, const void*& data, int64_t& stride,
                       LabelDType& stored, const std::string& message) const {
    FloatArray a = operand_array(obj, name, input_, /*allow_none=*/true);
    if (!a.present()) return a;
    if (a.shape != std::vector<int64_t>{classes}) throw py::value_error(message + dims_str(a.shape));
    data = a.data();
    stride = a.strides[0];
    stored = a.label;
    return a;
  }

  // Every class index is ignore_index or in [0, C): an O(rows) scan before any work, which
  // also gives the passes the mean's denominator.
  void check_targets() {
    if (call_.probability_targets()) return;
    InvalidTarget bad;
    {
      py::gil_scoped_release release;  // a scan in C++ over buffers kept alive by this call
      bad = find_invalid_target(call_);
    }
    if (bad.row >= 0) throw py::index_error("Target " + std::to_string(bad.value) + " is out of bounds.");
    call_.target_weight_known = true;
    call_.target_weight_sum = bad.weight_sum;
  }

  FloatArray input_, prob_target_, weight_, alpha_;
  IndexArray index_target_;
  std::vector<int64_t> rows_;
  RowLayout input_layout_, prob_layout_;
  ClassLossCall call_;
};

}  // namespace

void register_class_losses(py::module_& m) {
  py::native_enum<ClassLoss> losses(m, "ClassLoss", "enum.Enum",
                                    "The losses over a class axis (targets are class indices or probabilities).");
  losses.value("nll_loss", ClassLoss::kNllLoss)
      .value("cross_entropy", ClassLoss::kCrossEntropy)
      .value("softmax_focal_loss", ClassLoss::kSoftmaxFocal)
      .finalize();

  py::class_<ClassLossOptions>(m, "ClassLossOptions", "The scalar options of the class losses.")
      .def(py::init([](int64_t ignore_index, double label_smoothing, double alpha, double gamma) {
             return ClassLossOptions{ignore_index, label_smoothing, alpha, gamma};
           }),
           py::kw_only(), py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0, py::arg("alpha") = 1.0,
           py::arg("gamma") = 2.0)
      .def_readonly("ignore_index", &ClassLossOptions::ignore_index)
      .def_readonly("label_smoothing", &ClassLossOptions::label_smoothing)
      .def_readonly("alpha", &ClassLossOptions::alpha)
      .def_readonly("gamma", &ClassLossOptions::gamma);

  LossBindings<ClassPrepared, ClassLoss, const py::handle&, const py::handle&, const py::handle&, const py::handle&,
               Reduction, const ClassLossOptions&>::define(m, "class_loss", py::arg("loss"), py::arg("input"),
                                                           py::arg("target"), py::arg("weight") = py::none(),
                                                           py::arg("alpha") = py::none(),
                                                           py::arg("reduction") = Reduction::kMean,
                                                           py::arg("options") = ClassLossOptions{});

  m.def(
      "class_grad_hess",
      [](ClassLoss loss, const py::handle& input, const py::handle& target, const py::handle& weight,
         const py::handle& alpha, const ClassLossOptions& options, const py::handle& sample_weight, double hess_floor,
         const py::handle& out) {
        return ClassPrepared(loss, input, target, weight, alpha, Reduction::kNone, options)
            .grad_hess(sample_weight, hess_floor, out);
      },
      py::arg("loss"), py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
      py::arg("alpha") = py::none(), py::arg("options") = ClassLossOptions{}, py::arg("sample_weight") = py::none(),
      py::arg("hess_floor") = 0.0, py::arg("out") = py::none(),
      "(grad, hess) per row and class in one pass (class-index cross_entropy and softmax_focal_loss): "
      "sample_weight * d loss / d input and sample_weight * max(d2 loss / d input2, hess_floor), the Hessian's "
      "diagonal; out = (grad, hess) to write into.");
}

}  // namespace bindings
}  // namespace fastloss
