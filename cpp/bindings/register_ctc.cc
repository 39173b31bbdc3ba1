// Bindings of ctc_loss. Every array argument is checked here, in torch's order and with its
// messages (torch's RuntimeErrors become ValueError, its dtype errors TypeError), before any
// work: log_probs, the targets (any integer dtype; int32 and int64 are read in place, others
// converted to int64 as torch does), the lengths (any integer arrays, read as int64) and the
// labels' range (a core scan).
#include "pybind.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastloss/ctc.hpp"
#include "loss_call.hpp"
#include "register.hpp"

namespace fastloss {
namespace bindings {
namespace {

const char* const kWhileChecking = " (while checking arguments for ctc_loss_allocate_outputs)";

// torch's message for a length outside its range.
[[noreturn]] void bad_length(const char* name, const char* bound, int64_t limit, int64_t value) {
  throw py::value_error("Expected " + std::string(name) + " to have value " + bound + " " + std::to_string(limit) +
                        ", but got value " + std::to_string(value) + kWhileChecking);
}

[[noreturn]] void bad_targets_size(const std::string& expected, int64_t dim, int64_t got) {
  throw py::value_error("Expected tensor to have size " + expected + " at dimension " + std::to_string(dim) +
                        ", but got size " + std::to_string(got) + " for argument #2 'targets'" + kWhileChecking);
}

// An integer array of lengths (any shape: its elements in order, as torch's IntArrayRef).
std::vector<int64_t> lengths_of(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a sequence or array of integers");
  }
  const py::array a = py::reinterpret_borrow<py::array>(obj);
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u') throw py::type_error(std::string(name) + " must be integral");
  const auto as_int64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  return std::vector<int64_t>(as_int64.data(), as_int64.data() + as_int64.size());
}

// Targets of any integer dtype: int32 and int64 as they are, others as int64.
IndexArray targets_of(const py::handle& obj) {
  if (py::isinstance<py::array>(obj)) {
    const py::dtype dt = py::reinterpret_borrow<py::array>(obj).dtype();
    const bool read_in_place = dt.kind() == 'i' && (dt.itemsize() == 4 || dt.itemsize() == 8);
    if (!read_in_place && (dt.kind() == 'i' || dt.kind() == 'u')) {
      return index_array(obj.attr("astype")("int64"), "targets");
    }
  }
  return index_array(obj, "targets");
}

class CtcPrepared : public PreparedLoss {
 public:
  CtcPrepared(const py::handle& log_probs, const py::handle& targets, const py::handle& input_lengths,
              const py::handle& target_lengths, Reduction reduction, int64_t blank, bool zero_infinity) {
    log_probs_ = float_array(log_probs, "log_probs");
    targets_ = targets_of(targets);
    input_lengths_ = lengths_of(input_lengths, "input_lengths");
    target_lengths_ = lengths_of(target_lengths, "target_lengths");
    const std::vector<int64_t>& shape = log_probs_.shape;
    if (log_probs_.array.size() == 0) throw py::value_error("log_probs tensor must not be empty");
    batched_ = shape.size() == 3;
    if (!batched_ && shape.size() != 2) {  // torch unsqueezes any other input to one more dimension
      throw py::value_error("Expected 3-dimensional tensor, but got " + std::to_string(shape.size() + 1) +
                            "-dimensional tensor for argument #1 'log_probs'" + kWhileChecking);
    }
    const size_t target_dims = targets_.shape.size();
    if (target_dims != 1 && target_dims != 2) {
      throw py::value_error("Expected 1 to 2 dimensions, but got " + std::to_string(target_dims) +
                            "-dimensional tensor for argument #2 'targets'" + kWhileChecking);
    }
    const std::vector<int64_t>& st = log_probs_.strides;
    call_.dtype = log_probs_.dtype;
    call_.time = shape[0];
    call_.batch = batched_ ? shape[1] : 1;
    call_.classes = shape.back();
    call_.log_probs = log_probs_.data();
    call_.log_prob_strides[0] = st[0];
    call_.log_prob_strides[1] = batched_ ? st[1] : 0;
    call_.log_prob_strides[2] = st.back();
    if (blank < 0 || blank >= call_.classes) throw py::value_error("blank must be in label range");
    if (static_cast<int64_t>(input_lengths_.size()) != call_.batch)
      throw py::value_error("input_lengths must be of size batch_size");
    if (static_cast<int64_t>(target_lengths_.size()) != call_.batch)
      throw py::value_error("target_lengths must be of size batch_size");
    lay_out_targets();
    for (const int64_t length : input_lengths_) {
      if (length < 0) bad_length("input_lengths", "at least", 0, length);
      if (length > call_.time) bad_length("input_lengths", "at most", call_.time, length);
    }
    call_.input_lengths = input_lengths_.data();
    call_.target_lengths = target_lengths_.data();
    call_.blank = blank;
    call_.zero_infinity = zero_infinity;
    check_labels();

    dtype = call_.dtype;
    this->reduction = reduction;
    if (batched_) loss_shape = {call_.batch};
    grad_shapes = {shape};
    first_input = &log_probs_;
    operands = {&log_probs_};
  }

  double forward(MutableView loss_out) const override {
    const int64_t stride = batched_ && loss_out.present() ? loss_out.strides[0] : 0;
    return ctc_loss_forward(call_, reduction, MutableView{loss_out.data, &stride});
  }
  ReducedLoss forward_parts() const override { return ctc_loss_forward_parts(call_, reduction); }
  void backward(ConstView grad_output, double scalar, std::vector<FloatArray>& grads) const override {
    const int64_t stride = batched_ && grad_output.present() ? grad_output.strides[0] : 0;
    const std::vector<int64_t> grad_strides = gradient_strides(grads[0]);
    ctc_loss_backward(call_, reduction, ConstView{grad_output.data, &stride}, scalar,
                      MutableView{grads[0].array.mutable_data(), grad_strides.data()});
  }
  double forward_backward(std::vector<FloatArray>& grads, MutableView loss_out) const override {
    const int64_t stride = batched_ && loss_out.present() ? loss_out.strides[0] : 0;
    const std::vector<int64_t> grad_strides = gradient_strides(grads[0]);
    return ctc_loss_forward_backward(call_, reduction, MutableView{grads[0].array.mutable_data(), grad_strides.data()},
                                     MutableView{loss_out.data, &stride});
  }

 private:
  // A gradient's strides over (time, batch, class).
  std::vector<int64_t> gradient_strides(const FloatArray& grad) const {
    const std::vector<int64_t>& s = grad.strides;
    return {s[0], batched_ ? s[1] : 0, s.back()};
  }

  // Each sequence's first label: concatenated (1-D) targets follow one another, padded
  // (2-D) ones are rows. torch checks the lengths and the targets' size in this order.
  void lay_out_targets() {
    int64_t longest = 0, total = 0;
    for (int64_t b = 0; b < call_.batch; ++b) {
      const int64_t length = target_lengths_[static_cast<size_t>(b)];
      if (length < 0) bad_length("target_lengths", "at least", 0, length);
      const bool concatenated = targets_.shape.size() == 1;
      target_offsets_.push_back(concatenated ? total : b * targets_.strides[0]);
      total += length;
      longest = std::max(longest, length);
    }
    if (targets_.shape.size() == 1) {
      if (targets_.shape[0] != total) bad_targets_size(std::to_string(total), 0, targets_.shape[0]);
      call_.target_stride = targets_.strides[0];
      for (int64_t& offset : target_offsets_) offset *= call_.target_stride;
    } else {
      if (targets_.shape[0] != call_.batch) bad_targets_size(std::to_string(call_.batch), 0, targets_.shape[0]);
      if (targets_.shape[1] < longest) bad_targets_size("at least " + std::to_string(longest), 1, targets_.shape[1]);
      call_.target_stride = targets_.strides[1];
    }
    call_.targets = targets_.array.data();
    call_.target_dtype = targets_.dtype;
    call_.target_offsets = target_offsets_.data();
  }

  // Labels in [0, classes): an O(labels) scan before any work.
  void check_labels() const {
    InvalidCtcTarget bad;
    {
      py::gil_scoped_release release;  // a scan in C++ over buffers kept alive by this call
      bad = find_invalid_ctc_target(call_);
    }
    if (bad.sequence >= 0) {
      throw py::index_error("Target " + std::to_string(bad.value) + " of sequence " + std::to_string(bad.sequence) +
                            " is out of bounds for " + std::to_string(call_.classes) + " classes.");
    }
  }

  FloatArray log_probs_;
  IndexArray targets_;
  std::vector<int64_t> input_lengths_, target_lengths_, target_offsets_;
  bool batched_ = true;
  CtcCall call_;
};

}  // namespace

void register_ctc(py::module_& m) {
  LossBindings<CtcPrepared, const py::handle&, const py::handle&, const py::handle&, const py::handle&, Reduction,
               int64_t, bool>::define(m, "ctc_loss", py::arg("log_probs"), py::arg("targets"), py::arg("input_lengths"),
                                      py::arg("target_lengths"), py::arg("reduction") = Reduction::kMean,
                                      py::arg("blank") = 0, py::arg("zero_infinity") = false);
}

}  // namespace bindings
}  // namespace fastloss
