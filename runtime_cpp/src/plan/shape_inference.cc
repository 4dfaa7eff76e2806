// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// One function per op family computes the output shape and checks the
// inputs against each other; InferShapes walks the nodes in file order
// (which the reader guarantees is topological).
#include "plan/shape_inference.h"

#include <algorithm>
#include <limits>

#include "ops/elementwise.h"
#include "ops/op_common.h"
#include "plan/op_registry.h"

namespace gearshift {

// The registry's name (OpDef::name): one table of op names, so the two
// cannot disagree.
const char* OpName(OpType op) {
  const OpDef* def = OpRegistry::Default().Find(op);
  return def != nullptr ? def->name : "?";
}

namespace {

// Infers the shape of one node's output from its input shapes (absent
// optional inputs are null).
class NodeShapes {
 public:
  NodeShapes(const NodeDesc& node, std::vector<const Shape*> in)
      : node_(node), in_(std::move(in)) {}

  Status Unary(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    *out = *in_[0];
    return Status::Ok();
  }
  Status Softmax(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    GS_RETURN_IF_ERROR(MinRank(0, 1, "x"));
    *out = *in_[0];
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return FormatError("node '" + node_.name + "' (" + OpName(node_.op) + "): " + what);
  }
  // Checks the input count; inputs below `required` must be present.
  Status Arity(size_t required, size_t max) const {
    if (in_.size() < required || in_.size() > max) {
      return Error("expected " + std::to_string(required) +
                   (max > required ? "-" + std::to_string(max) : std::string()) + " inputs, got " +
                   std::to_string(in_.size()));
    }
    for (size_t i = 0; i < required; ++i) {
      if (in_[i] == nullptr) return Error("input " + std::to_string(i) + " is required");
    }
    return Status::Ok();
  }
  Status Rank(size_t i, size_t rank, const char* what) const {
    if (in_[i]->size() != rank) {
      return Error(std::string(what) + " must have rank " + std::to_string(rank) + ", got " +
                   ShapeToString(*in_[i]));
    }
    return Status::Ok();
  }
  Status MinRank(size_t i, size_t rank, const char* what) const {
    if (in_[i]->size() < rank) {
      return Error(std::string(what) + " must have rank >= " + std::to_string(rank) + ", got " +
                   ShapeToString(*in_[i]));
    }
    return Status::Ok();
  }

 public:
  Status Conv(Shape* out) {
    const NodeAttrs& a = node_.attrs;
    const bool depthwise = node_.op == OpType::kDepthwiseConv2D;
    GS_RETURN_IF_ERROR(Arity(2, 3));
    GS_RETURN_IF_ERROR(Rank(0, 4, "input"));
    GS_RETURN_IF_ERROR(Rank(1, 4, "filter"));
    const Shape& x = *in_[0];
    const Shape& f = *in_[1];
    int64_t out_c;
    if (depthwise) {
      if (f[0] != 1 || f[3] != x[3] * a.depth_multiplier) {
        return Error("filter shape " + ShapeToString(f) + " does not match input channels " +
                     std::to_string(x[3]) + " x depth_multiplier " +
                     std::to_string(a.depth_multiplier) + " (expected [1, KH, KW, " +
                     std::to_string(x[3] * a.depth_multiplier) + "])");
      }
      out_c = f[3];
    } else {
      if (f[3] != x[3]) {
        return Error("filter channels " + std::to_string(f[3]) + " != input channels " +
                     std::to_string(x[3]) + " (filter " + ShapeToString(f) + ", input " +
                     ShapeToString(x) + ")");
      }
      out_c = f[0];
    }
    GS_RETURN_IF_ERROR(Bias(2, out_c));
    int64_t oh, ow, pad;
    if (!ComputeWindow(x[1], static_cast<int>(f[1]), a.stride_h, a.dilation_h, a.padding, &oh,
                       &pad) ||
        !ComputeWindow(x[2], static_cast<int>(f[2]), a.stride_w, a.dilation_w, a.padding, &ow,
                       &pad)) {
      return Error("VALID window (filter " + ShapeToString(f) + ", dilation [" +
                   std::to_string(a.dilation_h) + ", " + std::to_string(a.dilation_w) +
                   "]) is larger than the input " + ShapeToString(x));
    }
    *out = {x[0], oh, ow, out_c};
    return Status::Ok();
  }

  Status Bias(size_t i, int64_t channels) const {
    if (in_.size() <= i || in_[i] == nullptr) return Status::Ok();
    if (in_[i]->size() != 1 || (*in_[i])[0] != channels) {
      return Error("bias must have shape [" + std::to_string(channels) + "], got " +
                   ShapeToString(*in_[i]));
    }
    return Status::Ok();
  }

  Status Dense(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(2, 3));
    GS_RETURN_IF_ERROR(MinRank(0, 1, "input"));
    GS_RETURN_IF_ERROR(Rank(1, 2, "weights"));
    const Shape& x = *in_[0];
    const Shape& w = *in_[1];
    if (w[1] != x.back()) {
      return Error("weights " + ShapeToString(w) + " do not match input features " +
                   std::to_string(x.back()) + " of input " + ShapeToString(x));
    }
    GS_RETURN_IF_ERROR(Bias(2, w[0]));
    *out = x;
    out->back() = w[0];
    return Status::Ok();
  }

  Status Pool(Shape* out) {
    const NodeAttrs& a = node_.attrs;
    GS_RETURN_IF_ERROR(Arity(1, 1));
    GS_RETURN_IF_ERROR(Rank(0, 4, "input"));
    const Shape& x = *in_[0];
    int64_t oh, ow, pad;
    if (!ComputeWindow(x[1], a.filter_h, a.stride_h, 1, a.padding, &oh, &pad) ||
        !ComputeWindow(x[2], a.filter_w, a.stride_w, 1, a.padding, &ow, &pad)) {
      return Error("VALID filter [" + std::to_string(a.filter_h) + ", " +
                   std::to_string(a.filter_w) + "] is larger than the input " + ShapeToString(x));
    }
    *out = {x[0], oh, ow, x[3]};
    return Status::Ok();
  }

  Status Mean(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    const Shape& x = *in_[0];
    const std::vector<int>& axes = node_.attrs.axes;
    for (size_t i = 0; i < axes.size(); ++i) {
      if (axes[i] < 0 || static_cast<size_t>(axes[i]) >= x.size() ||
          std::count(axes.begin(), axes.end(), axes[i]) != 1) {
        return Error("axes must be distinct and in [0, " + std::to_string(x.size()) +
                     "), got axis " + std::to_string(axes[i]));
      }
    }
    out->clear();
    for (size_t d = 0; d < x.size(); ++d) {
      const bool reduced = std::find(axes.begin(), axes.end(), static_cast<int>(d)) != axes.end();
      if (!reduced) {
        out->push_back(x[d]);
      } else if (node_.attrs.keep_dims) {
        out->push_back(1);
      }
    }
    return Status::Ok();
  }

  Status Binary(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(2, 2));
    if (!BroadcastShapes(*in_[0], *in_[1], out)) {
      return Error("shapes " + ShapeToString(*in_[0]) + " and " + ShapeToString(*in_[1]) +
                   " cannot be broadcast");
    }
    return Status::Ok();
  }

  Status Concat(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, std::numeric_limits<size_t>::max()));
    for (const Shape* s : in_) {
      if (s == nullptr) return Error("inputs must not be absent");
    }
    const Shape& s0 = *in_[0];
    const int axis = node_.attrs.axis;
    if (axis < 0 || static_cast<size_t>(axis) >= s0.size()) {
      return Error("axis " + std::to_string(axis) + " out of range for input " + ShapeToString(s0));
    }
    *out = s0;
    for (size_t i = 1; i < in_.size(); ++i) {
      const Shape& s = *in_[i];
      bool ok = s.size() == s0.size();
      for (size_t d = 0; ok && d < s.size(); ++d) {
        ok = static_cast<int>(d) == axis || s[d] == s0[d];
      }
      if (!ok) {
        return Error("input " + std::to_string(i) + " shape " + ShapeToString(s) +
                     " does not match input 0 shape " + ShapeToString(s0) + " outside axis " +
                     std::to_string(axis));
      }
      (*out)[axis] += s[axis];
    }
    return Status::Ok();
  }

  Status Reshape(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    GS_RETURN_IF_ERROR(MinRank(0, 1, "input"));
    const Shape& x = *in_[0];
    const Shape& target = node_.attrs.shape;
    if (target.size() + 1 > static_cast<size_t>(kMaxRank)) {
      return Error("target shape has rank > " + std::to_string(kMaxRank));
    }
    const int64_t rest = NumElements(x) / x[0];
    int64_t known = 1;
    int wildcard = -1;
    for (size_t i = 0; i < target.size(); ++i) {
      if (target[i] == -1 && wildcard < 0) {
        wildcard = static_cast<int>(i);
      } else if (target[i] < 1) {
        return Error("invalid target shape " + ShapeToString(target));
      } else {
        known *= target[i];
      }
    }
    *out = {x[0]};
    out->insert(out->end(), target.begin(), target.end());
    if (wildcard >= 0) {
      if (rest % known != 0) {
        return Error("cannot reshape " + ShapeToString(x) + " to [batch] + " +
                     ShapeToString(target) + ": element count mismatch");
      }
      (*out)[wildcard + 1] = rest / known;
    } else if (known != rest) {
      return Error("cannot reshape " + ShapeToString(x) + " to [batch] + " + ShapeToString(target) +
                   ": element count mismatch (" + std::to_string(rest) + " vs " +
                   std::to_string(known) + ")");
    }
    return Status::Ok();
  }

  Status Pad(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    const Shape& x = *in_[0];
    const auto& pads = node_.attrs.paddings;
    if (pads.size() != x.size()) {
      return Error("paddings has " + std::to_string(pads.size()) + " pairs for input " +
                   ShapeToString(x) + " of rank " + std::to_string(x.size()));
    }
    *out = x;
    for (size_t d = 0; d < x.size(); ++d) {
      if (pads[d].first < 0 || pads[d].second < 0) return Error("negative padding");
      (*out)[d] += pads[d].first + pads[d].second;
    }
    return Status::Ok();
  }

  // 1.3 ops. The reader checked the attributes against the declared shapes;
  // these checks repeat what plans rely on, for ModelDescs built elsewhere.

  Status TransposeConv(Shape* out) {
    const NodeAttrs& a = node_.attrs;
    GS_RETURN_IF_ERROR(Arity(2, 3));
    GS_RETURN_IF_ERROR(Rank(0, 4, "input"));
    GS_RETURN_IF_ERROR(Rank(1, 4, "filter"));
    const Shape& x = *in_[0];
    const Shape& f = *in_[1];
    if (f[3] != x[3]) {
      return Error("filter channels " + std::to_string(f[3]) + " != input channels " +
                   std::to_string(x[3]));
    }
    GS_RETURN_IF_ERROR(Bias(2, f[0]));
    if (a.size_h < 1 || a.size_w < 1 || a.stride_h < 1 || a.stride_w < 1) {
      return Error("output_size and stride must be >= 1");
    }
    *out = {x[0], a.size_h, a.size_w, f[0]};
    return Status::Ok();
  }

  Status Prelu(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(2, 2));
    // alpha broadcasts onto x; the output keeps x's shape.
    Shape y;
    if (!BroadcastShapes(*in_[0], *in_[1], &y) || y != *in_[0]) {
      return Error("alpha " + ShapeToString(*in_[1]) + " does not broadcast to the input " +
                   ShapeToString(*in_[0]));
    }
    *out = std::move(y);
    return Status::Ok();
  }

  Status Resize(Shape* out) {
    const NodeAttrs& a = node_.attrs;
    GS_RETURN_IF_ERROR(Arity(1, 1));
    GS_RETURN_IF_ERROR(Rank(0, 4, "input"));
    if (a.size_h < 1 || a.size_w < 1 || (a.align_corners && a.half_pixel_centers)) {
      return Error("invalid size or align_corners/half_pixel_centers");
    }
    const Shape& x = *in_[0];
    *out = {x[0], a.size_h, a.size_w, x[3]};
    return Status::Ok();
  }

  Status BlockShuffle(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    GS_RETURN_IF_ERROR(Rank(0, 4, "input"));
    const Shape& x = *in_[0];
    const int64_t b = node_.attrs.block_size;
    if (b < 1 || x[1] > std::numeric_limits<int64_t>::max() / (b * b) ||
        x[2] > std::numeric_limits<int64_t>::max() / (b * b)) {
      return Error("block_size " + std::to_string(b) + " out of range for " + ShapeToString(x));
    }
    if (node_.op == OpType::kDepthToSpace) {
      if (x[3] % (b * b) != 0) {
        return Error("input channels " + std::to_string(x[3]) + " not a multiple of " +
                     std::to_string(b * b));
      }
      *out = {x[0], x[1] * b, x[2] * b, x[3] / (b * b)};
    } else {
      if (x[1] % b != 0 || x[2] % b != 0) {
        return Error("block_size " + std::to_string(b) + " does not divide " + ShapeToString(x));
      }
      *out = {x[0], x[1] / b, x[2] / b, x[3] * b * b};
    }
    return Status::Ok();
  }

  Status Transpose(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    const Shape& x = *in_[0];
    const std::vector<int>& perm = node_.attrs.perm;
    std::vector<char> seen(x.size(), 0);
    bool ok = perm.size() == x.size() && !perm.empty() && perm[0] == 0;
    for (size_t i = 0; ok && i < perm.size(); ++i) {
      ok = perm[i] >= 0 && static_cast<size_t>(perm[i]) < x.size() && !seen[perm[i]];
      if (ok) seen[perm[i]] = 1;
    }
    if (!ok) return Error("perm is not a permutation of the input's axes with perm[0] = 0");
    out->clear();
    for (int p : perm) out->push_back(x[p]);
    return Status::Ok();
  }

  Status Slice(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    GS_RETURN_IF_ERROR(MinRank(0, 1, "input"));
    const NodeAttrs& a = node_.attrs;
    const Shape& x = *in_[0];
    const size_t n = x.size() - 1;
    if (a.begin.size() != n || a.end.size() != n || a.strides.size() != n) {
      return Error("begin, end and strides need " + std::to_string(n) + " entries each");
    }
    *out = {x[0]};
    for (size_t i = 0; i < n; ++i) {
      if (!(a.begin[i] >= 0 && a.begin[i] < a.end[i] && a.end[i] <= x[i + 1] &&
            a.strides[i] >= 1)) {
        return Error("slice of axis " + std::to_string(i + 1) + " out of range for input " +
                     ShapeToString(x));
      }
      out->push_back((a.end[i] - a.begin[i] + a.strides[i] - 1) / a.strides[i]);
    }
    return Status::Ok();
  }

  Status Gather(Shape* out) {
    GS_RETURN_IF_ERROR(Arity(1, 1));
    const NodeAttrs& a = node_.attrs;
    const Shape& x = *in_[0];
    if (a.axis < 1 || static_cast<size_t>(a.axis) >= x.size() || a.indices.empty()) {
      return Error("axis " + std::to_string(a.axis) + " out of range [1, " +
                   std::to_string(x.size()) + ") or no indices");
    }
    for (int64_t i : a.indices) {
      if (i < 0 || i >= x[a.axis]) {
        return Error("index " + std::to_string(i) + " out of range for axis " +
                     std::to_string(a.axis) + " of " + ShapeToString(x));
      }
    }
    *out = x;
    (*out)[a.axis] = static_cast<int64_t>(a.indices.size());
    return Status::Ok();
  }

  const NodeDesc& node_;
  std::vector<const Shape*> in_;
};

}  // namespace

namespace shape_rules {

#define GEARSHIFT_SHAPE_RULE(Name)                                                     \
  Status Name(const NodeDesc& node, const std::vector<const Shape*>& in, Shape* out) { \
    return NodeShapes(node, in).Name(out);                                             \
  }
GEARSHIFT_SHAPE_RULE(Conv)
GEARSHIFT_SHAPE_RULE(Dense)
GEARSHIFT_SHAPE_RULE(Pool)
GEARSHIFT_SHAPE_RULE(Mean)
GEARSHIFT_SHAPE_RULE(Unary)
GEARSHIFT_SHAPE_RULE(Softmax)
GEARSHIFT_SHAPE_RULE(Binary)
GEARSHIFT_SHAPE_RULE(Concat)
GEARSHIFT_SHAPE_RULE(Reshape)
GEARSHIFT_SHAPE_RULE(Pad)
GEARSHIFT_SHAPE_RULE(TransposeConv)
GEARSHIFT_SHAPE_RULE(Prelu)
GEARSHIFT_SHAPE_RULE(Resize)
GEARSHIFT_SHAPE_RULE(BlockShuffle)
GEARSHIFT_SHAPE_RULE(Transpose)
GEARSHIFT_SHAPE_RULE(Slice)
GEARSHIFT_SHAPE_RULE(Gather)
#undef GEARSHIFT_SHAPE_RULE

}  // namespace shape_rules

namespace {

// Declared shape `declared` admits `actual`: same rank, equal dims, except a
// -1 in dimension 0.
bool Matches(const Shape& declared, const Shape& actual) {
  if (declared.size() != actual.size()) return false;
  for (size_t d = 0; d < declared.size(); ++d) {
    if (declared[d] != actual[d] && !(d == 0 && declared[d] == -1)) return false;
  }
  return true;
}

}  // namespace

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status InferShapes(const ModelDesc& model, const std::vector<Shape>& input_shapes,
                   std::vector<Shape>* shapes) {
  return InferShapes(model, input_shapes, OpRegistry::Default(), shapes);
}

Status InferShapes(const ModelDesc& model, const std::vector<Shape>& input_shapes,
                   const OpRegistry& registry, std::vector<Shape>* shapes) {
  if (input_shapes.size() != model.inputs.size()) {
    return InvalidArgument("expected " + std::to_string(model.inputs.size()) +
                           " input shape(s), got " + std::to_string(input_shapes.size()));
  }
  const size_t n = model.tensors.size();
  std::vector<Shape> result(n);
  std::vector<bool> known(n, false);
  for (size_t t = 0; t < n; ++t) {
    if (model.tensors[t].is_const) {
      result[t] = model.tensors[t].shape;
      known[t] = true;
    }
  }
  // Bounds the element count of every activation so offsets cannot overflow.
  constexpr int64_t kMaxElements = int64_t{1} << 40;
  for (size_t i = 0; i < model.inputs.size(); ++i) {
    if (model.inputs[i] < 0 || static_cast<size_t>(model.inputs[i]) >= n) {
      return FormatError("graph input " + std::to_string(i) + " is not a tensor index");
    }
    const TensorDesc& t = model.tensors[model.inputs[i]];
    const Shape& s = input_shapes[i];
    bool positive = true;
    double elems = 1;
    for (int64_t d : s) {
      positive = positive && d >= 1;
      elems *= static_cast<double>(d);
    }
    if (!Matches(t.shape, s) || !positive) {
      return InvalidArgument("input '" + t.name + "': expected shape " + ShapeToString(t.shape) +
                             ", got " + ShapeToString(s));
    }
    if (elems > static_cast<double>(kMaxElements)) {
      return InvalidArgument("input '" + t.name + "': shape " + ShapeToString(s) + " is too large");
    }
    result[model.inputs[i]] = s;
    known[model.inputs[i]] = true;
  }
  for (const NodeDesc& node : model.nodes) {
    std::vector<const Shape*> in;
    in.reserve(node.inputs.size());
    for (int t : node.inputs) {
      if (t >= 0 && (static_cast<size_t>(t) >= n || !known[t])) {
        return FormatError("node '" + node.name + "' reads tensor " + std::to_string(t) +
                           " before it is produced");
      }
      in.push_back(t >= 0 ? &result[t] : nullptr);
    }
    if (node.outputs.size() != 1 || node.outputs[0] < 0 ||
        static_cast<size_t>(node.outputs[0]) >= n) {
      return FormatError("node '" + node.name + "': expected exactly one output tensor");
    }
    Shape out;
    const OpDef* def = registry.Find(node.op);
    if (def == nullptr || def->shape == nullptr) {
      return Status(StatusCode::kUnsupported, "node '" + node.name + "': op " + OpName(node.op) +
                                                  " has no shape rule in this runtime");
    }
    GS_RETURN_IF_ERROR(def->shape(node, in, &out));
    const int o = node.outputs[0];
    const TensorDesc& t = model.tensors[o];
    if (!Matches(t.shape, out)) {
      return FormatError("tensor '" + t.name + "' (output of node '" + node.name +
                         "'): inferred shape " + ShapeToString(out) + ", declared " +
                         ShapeToString(t.shape));
    }
    double elems = 1;
    for (int64_t d : out) elems *= static_cast<double>(d);
    if (elems > static_cast<double>(kMaxElements)) {
      return InvalidArgument("tensor '" + t.name + "': shape " + ShapeToString(out) +
                             " is too large");
    }
    result[o] = std::move(out);
    known[o] = true;
  }
  for (int o : model.outputs) {
    if (o < 0 || static_cast<size_t>(o) >= n || !known[o]) {
      return FormatError("graph output " + std::to_string(o) + " is never produced");
    }
  }
  *shapes = std::move(result);
  return Status::Ok();
}

}  // namespace gearshift
