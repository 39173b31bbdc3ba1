// Bindings of the row-wise losses over the last axis: cosine_embedding_loss,
// multi_margin_loss, triplet_margin_loss, multilabel_soft_margin_loss and
// multilabel_margin_loss. Every array
// argument is checked here, with torch's messages, before any work.
#include "pybind.hpp"

#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/row_losses.hpp"
#include "loss_call.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

// The differentiable inputs' names in each loss's torch signature.
const char* input_name(RowLoss loss, int k) {
  static const char* const kNames[5][3] = {{"input1", "input2", ""},
                                           {"input", "", ""},
                                           {"anchor", "positive", "negative"},
                                           {"input", "", ""},
                                           {"input", "", ""}};
  return kNames[static_cast<int>(loss)][k];
}

// ValueError in torch's broadcasting words unless a and b have the same shape.
void require_same_shape(const FloatArray& a, const FloatArray& b) {
  if (a.shape == b.shape) return;
  const size_t n = std::max(a.shape.size(), b.shape.size());
  for (size_t k = 0; k < n; ++k) {
    const int64_t sa = k < a.shape.size() ? a.shape[a.shape.size() - 1 - k] : 1;
    const int64_t sb = k < b.shape.size() ? b.shape[b.shape.size() - 1 - k] : 1;
    if (sa != sb) {
      throw py::value_error("The size of tensor a (" + std::to_string(sa) + ") must match the size of tensor b (" +
                            std::to_string(sb) + ") at non-singleton dimension " + std::to_string(n - 1 - k));
    }
  }
  throw py::value_error("shapes " + shape_str(a.shape) + " and " + shape_str(b.shape) + " differ");
}

class RowPrepared : public PreparedLoss {
 public:
  RowPrepared(RowLoss loss, const py::sequence& inputs, const py::handle& target, const py::handle& weight,
              Reduction reduction, const RowLossOptions& options) {
    const int count = row_loss_inputs(loss);
    if (static_cast<int>(py::len(inputs)) != count)
      throw py::value_error("this loss takes " + std::to_string(count) + " inputs");
    for (int k = 0; k < count; ++k) {
      inputs_[k] = k == 0 ? storage_array(inputs[k], input_name(loss, k))
                          : operand_array(inputs[k], input_name(loss, k), inputs_[0]);
    }
    call_.loss = loss;
    call_.dtype = inputs_[0].dtype;
    call_.options = options;
    switch (loss) {
      case RowLoss::kCosineEmbedding: prepare_cosine(target); break;
      case RowLoss::kMultiMargin: prepare_multi_margin(target, weight); break;
      case RowLoss::kTripletMargin: prepare_triplet(); break;
      case RowLoss::kMultilabelSoftMargin: prepare_multilabel(target, weight); break;
      case RowLoss::kMultilabelMargin: prepare_multilabel_margin(target); break;
    }
    for (int k = 0; k < count; ++k) call_.inputs[k] = row_view(inputs_[k]);
    check_classes();

    dtype = call_.dtype;
    this->reduction = reduction;
    loss_shape = rows_;
    for (int k = 0; k < count; ++k) grad_shapes.push_back(inputs_[k].shape);
    first_input = &inputs_[0];
    operands = {&inputs_[0], &inputs_[1], &inputs_[2], &labels_, &weight_};
  }

  double forward(MutableView loss_out) const override { return row_loss_forward(call_, reduction, loss_out); }
  ReducedLoss forward_parts() const override { return row_loss_forward_parts(call_, reduction); }
  void backward(ConstView grad_output, double scalar, std::vector<FloatArray>& grads) const override {
    MutableRowView views[3];
    gradient_views(grads, views);
    row_loss_backward(call_, reduction, grad_output, scalar, views);
  }
  double forward_backward(std::vector<FloatArray>& grads, MutableView loss_out) const override {
    MutableRowView views[3];
    gradient_views(grads, views);
    return row_loss_forward_backward(call_, reduction, views, loss_out);
  }

 private:
  // The rows of an array shaped like the first input: its last axis. The engine reads the
  // first (ndim - 1) strides as the row strides. A 0-d array (a 0-d multi_margin input) is
  // one row of one element.
  RowView row_view(const FloatArray& a) const {
    return RowView{ConstView{a.data(), a.strides.data(), a.label}, a.strides.empty() ? 1 : a.strides.back()};
  }

  void gradient_views(std::vector<FloatArray>& grads, MutableRowView* views) const {
    for (size_t k = 0; k < grads.size(); ++k) {
      FloatArray& g = grads[k];
      views[k] = MutableRowView{MutableView{g.array.mutable_data(), g.strides.data(), g.label},
                                g.strides.empty() ? 1 : g.strides.back()};
    }
  }

  // Rows over every dimension of the first input but the last.
  void set_rows(const std::vector<int64_t>& shape) {
    rows_ = shape.empty() ? std::vector<int64_t>{} : std::vector<int64_t>(shape.begin(), shape.end() - 1);
    call_.shape = RowShape{Shape{static_cast<int>(rows_.size()), rows_.data()}, shape.empty() ? 1 : shape.back()};
  }

  void prepare_cosine(const py::handle& target) {
    const FloatArray& x1 = inputs_[0];
    const FloatArray& x2 = inputs_[1];
    labels_ = label_array(target, "target", x1, LabelRule{true, true, ""});
    const size_t t_dim = labels_.shape.size();
    if (t_dim > 1) throw py::value_error("0D or 1D target tensor expected, multi-target not supported");
    if (x1.shape.size() != t_dim + 1 || x2.shape.size() != t_dim + 1) {
      throw py::value_error(std::to_string(t_dim) + "D target tensor expects " + std::to_string(t_dim + 1) +
                            "D input tensors, but found inputs with sizes " + dims_str(x1.shape) + " and " +
                            dims_str(x2.shape) + ".");
    }
    require_same_shape(x1, x2);
    if (t_dim == 1 && labels_.shape[0] != x1.shape[0]) {
      throw py::value_error("The size of tensor a (" + std::to_string(x1.shape[0]) +
                            ") must match the size of tensor b (" + std::to_string(labels_.shape[0]) +
                            ") at non-singleton dimension 0");
    }
    set_rows(x1.shape);
    call_.target = labels_.view();
  }

  // torch's rule for multi_margin's and multilabel_margin's input: (N, C), (C,) or 0-d, C > 0.
  void require_vector_or_matrix(const FloatArray& x) {
    const size_t nd = x.shape.size();
    if (!((nd == 2 && x.shape[1] != 0) || (nd == 1 && x.shape[0] != 0) || nd == 0)) {
      throw py::value_error("Expected non-empty vector or matrix with optional 0-dim batch size, but got: " +
                            dims_str(x.shape));
    }
  }

  void prepare_multi_margin(const py::handle& target, const py::handle& weight) {
    const FloatArray& x = inputs_[0];
    require_vector_or_matrix(x);
    set_rows(x.shape);
    classes_ = index_array(target, "target");
    const int64_t rows = call_.shape.rows.numel();
    const int64_t given = static_cast<int64_t>(classes_.array.size());
    if (classes_.shape.size() > 1 || given != rows) {
      throw py::value_error("multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
                            "samples (batch size). Expected target size [" + std::to_string(rows) + "], but got " +
                            dims_str(classes_.shape) + ". Input has shape " + dims_str(x.shape) + ".");
    }
    // The classes over the row dimensions: (N,) for (N, C), one element otherwise.
    class_strides_ = rows_.empty() ? std::vector<int64_t>{} : std::vector<int64_t>{classes_.strides.empty() ? 0 : classes_.strides[0]};
    call_.target = ConstView{classes_.array.data(), class_strides_.data()};
    call_.target_dtype = classes_.dtype;
    if (classes_.shape != rows_) returned_shape = classes_.shape;  // torch's losses take the target's shape
    weight_ = operand_array(weight, "weight", x, /*allow_none=*/true);
    if (weight_.present()) {
      if (weight_.shape.size() != 1) throw py::value_error("weight must be one-dimensional");
      if (weight_.shape[0] != call_.shape.length) {
        throw py::value_error("inconsistent weight size, expected " + std::to_string(call_.shape.length) +
                              " but got " + dims_str(weight_.shape));
      }
      call_.class_weight = weight_.data();
      call_.class_weight_stride = weight_.strides[0];
      call_.class_weight_stored = weight_.label;
    }
  }

  void prepare_triplet() {
    const FloatArray& a = inputs_[0];
    const size_t a_dim = a.shape.size(), p_dim = inputs_[1].shape.size(), n_dim = inputs_[2].shape.size();
    if (a_dim != p_dim || p_dim != n_dim) {
      throw py::value_error("The anchor, positive, and negative tensors are expected to have the same number of "
                            "dimensions, but got: anchor " + std::to_string(a_dim) + "D, positive " +
                            std::to_string(p_dim) + "D, and negative " + std::to_string(n_dim) + "D inputs");
    }
    if (a_dim == 0) throw py::value_error("triplet_margin_loss expects inputs of at least one dimension, got 0-d anchor");
    require_same_shape(a, inputs_[1]);
    require_same_shape(a, inputs_[2]);
    set_rows(a.shape);
  }

  void prepare_multilabel(const py::handle& target, const py::handle& weight) {
    const FloatArray& x = inputs_[0];
    if (x.shape.empty()) throw py::value_error("multilabel_soft_margin_loss expects an input of at least one dimension");
    labels_ = label_array(target, "target", x, LabelRule{true, false, kBoolSubtraction});
    if (labels_.shape != x.shape) {
      throw py::value_error("target of shape " + shape_str(labels_.shape) + " must have the input's shape " +
                            shape_str(x.shape));
    }
    set_rows(x.shape);
    call_.target_rows = row_view(labels_);
    weight_ = operand_array(weight, "weight", x, /*allow_none=*/true);
    if (weight_.present()) {
      weight_strides_ = broadcast_strides(weight_, x.shape, "weight");
      call_.weight_rows = RowView{ConstView{weight_.data(), weight_strides_.data(), weight_.label}, weight_strides_.back()};
    }
  }

  // multilabel_margin's target: class lists of the input's shape (a 0-d input's: 0-d or (1,)).
  void prepare_multilabel_margin(const py::handle& target) {
    const FloatArray& x = inputs_[0];
    require_vector_or_matrix(x);
    classes_ = index_array(target, "target");
    const int64_t length = x.shape.empty() ? 1 : x.shape.back();
    const bool consistent = x.shape.size() == 2 ? classes_.shape == x.shape
                                                : classes_.shape.size() <= 1 &&
                                                      static_cast<int64_t>(classes_.array.size()) == length;
    if (!consistent) {
      throw py::value_error("inconsistent target size: " + dims_str(classes_.shape) + " for input of size: " +
                            dims_str(x.shape));
    }
    set_rows(x.shape);
    call_.class_rows = RowView{ConstView{classes_.array.data(), classes_.strides.data()},
                               classes_.strides.empty() ? 1 : classes_.strides.back()};
    call_.target_dtype = classes_.dtype;
  }

  // multi_margin's classes are in [0, C), multilabel_margin's -1 or in [0, C): a scan before
  // any work.
  void check_classes() const {
    if (call_.loss != RowLoss::kMultiMargin && call_.loss != RowLoss::kMultilabelMargin) return;
    InvalidClass bad;
    {
      py::gil_scoped_release release;  // a scan in C++ over buffers kept alive by this call
      bad = find_invalid_class(call_);
    }
    if (bad.row < 0) return;
    if (call_.loss == RowLoss::kMultiMargin) throw py::index_error("target out of range");
    throw py::index_error("argument #2 'target' is out of range");
  }

  FloatArray inputs_[3], labels_, weight_;
  IndexArray classes_;
  std::vector<int64_t> rows_, class_strides_, weight_strides_;
  RowLossCall call_;
};

}  // namespace

void register_row_losses(py::module_& m) {
  py::native_enum<RowLoss> losses(m, "RowLoss", "enum.Enum", "The row-wise losses.");
  losses.value("cosine_embedding_loss", RowLoss::kCosineEmbedding)
      .value("multi_margin_loss", RowLoss::kMultiMargin)
      .value("triplet_margin_loss", RowLoss::kTripletMargin)
      .value("multilabel_soft_margin_loss", RowLoss::kMultilabelSoftMargin)
      .value("multilabel_margin_loss", RowLoss::kMultilabelMargin)
      .finalize();

  py::class_<RowLossOptions>(m, "RowLossOptions", "The scalar options of the row-wise losses.")
      .def(py::init([](double margin, int margin_p, double norm_p, double eps, bool swap) {
             return RowLossOptions{margin, margin_p, norm_p, eps, swap};
           }),
           py::kw_only(), py::arg("margin") = 0.0, py::arg("margin_p") = 1, py::arg("norm_p") = 2.0,
           py::arg("eps") = 1e-6, py::arg("swap") = false)
      .def_readonly("margin", &RowLossOptions::margin)
      .def_readonly("margin_p", &RowLossOptions::margin_p)
      .def_readonly("norm_p", &RowLossOptions::norm_p)
      .def_readonly("eps", &RowLossOptions::eps)
      .def_readonly("swap", &RowLossOptions::swap);

  LossBindings<RowPrepared, RowLoss, const py::sequence&, const py::handle&, const py::handle&, Reduction,
               const RowLossOptions&>::define(m, "row_loss", py::arg("loss"), py::arg("inputs"),
                                              py::arg("target") = py::none(), py::arg("weight") = py::none(),
                                              py::arg("reduction") = Reduction::kMean,
                                              py::arg("options") = RowLossOptions{});
}

}  // namespace bindings
}  // namespace fastloss
