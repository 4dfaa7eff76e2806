// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The .gear reader and validator (docs/FORMAT.md section 3, steps 1-3):
// valid files of every op, the ModelDesc they produce, and a corruption
// corpus (every truncation, every byte flip in the header, section table and
// manifest, forged fields, hostile manifests). Every broken file must fail
// with a clean Status naming the field, never crash; run under
// -DGEARSHIFT_SANITIZE=ON to also catch out-of-bounds reads.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "format/crc32c.h"
#include "format/model_desc.h"
#include "gear_builder.h"

namespace gearshift {
namespace {

using testing::AppendF32;
using testing::BuildGearFile;
using testing::BuildGearFileSections;
using testing::GearLayout;
using testing::GearModelBuilder;
using testing::GearSection;
using testing::PutLe;
using testing::RefreshGearCrcs;
using testing::SectionEntryOffset;

Status Load(const std::vector<uint8_t>& bytes, std::unique_ptr<GearFile>* out = nullptr,
            bool verify = true) {
  std::unique_ptr<GearFile> file;
  GearFile::Options options;
  options.verify_checksums = verify;
  Status s = GearFile::FromBuffer(bytes.data(), bytes.size(), options, out ? out : &file);
  return s;
}

// Expects a kFormatError whose message contains `needle`.
void ExpectFormatError(const std::vector<uint8_t>& bytes, const std::string& needle) {
  Status s = Load(bytes);
  ASSERT_FALSE(s.ok()) << "expected failure containing: " << needle;
  EXPECT_EQ(s.code(), StatusCode::kFormatError) << s.message();
  EXPECT_NE(s.message().find(needle), std::string::npos)
      << "message: " << s.message() << "\nexpected to contain: " << needle;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << "test bug: '" << from << "' not in manifest";
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

// A small conv -> relu -> fc model, written by hand so tests can mutate it.
// Tensors: 0 x [-1,4,4,2], 1 conv/w [3,3,3,2], 2 conv/b [3], 3 conv/out
// [-1,2,2,3], 4 flat [-1,12], 5 fc/w [5,12], 6 y [-1,5].
struct SmallModel {
  std::string manifest;
  std::vector<uint8_t> data;
};

SmallModel MakeSmallModel() {
  SmallModel m;
  const uint64_t w_off = AppendF32(&m.data, std::vector<float>(54, 0.25f));
  const uint64_t b_off = AppendF32(&m.data, {1, 2, 3});
  const uint64_t fw_off = AppendF32(&m.data, std::vector<float>(60, -0.5f));
  m.manifest = R"({
  "producer": "test", "metadata": {"user.k": "v"},
  "tensors": [
    {"name": "x", "shape": [-1, 4, 4, 2], "dtype": "f32"},
    {"name": "conv/w", "shape": [3, 3, 3, 2], "dtype": "f32", "const": true},
    {"name": "conv/b", "shape": [3], "dtype": "f32", "const": true},
    {"name": "conv/out", "shape": [-1, 2, 2, 3], "dtype": "f32"},
    {"name": "flat", "shape": [-1, 12], "dtype": "f32"},
    {"name": "fc/w", "shape": [5, 12], "dtype": "f32", "const": true},
    {"name": "y", "shape": [-1, 5], "dtype": "f32"}
  ],
  "inputs": [0],
  "outputs": [6],
  "nodes": [
    {"name": "conv", "op": "CONV_2D", "inputs": [0, 1, 2], "outputs": [3],
     "attrs": {"stride": [1, 1], "dilation": [1, 1], "padding": "VALID", "activation": "RELU"}},
    {"name": "reshape", "op": "RESHAPE", "inputs": [3], "outputs": [4], "attrs": {"shape": [12]}},
    {"name": "fc", "op": "FULLY_CONNECTED", "inputs": [4, 5, -1], "outputs": [6], "attrs": {}}
  ],
  "storage": [
    {"section": 1, "offset": W_OFF, "length": 216, "dtype": "f32", "shape": [3, 3, 3, 2], "encoding": "dense"},
    {"section": 1, "offset": B_OFF, "length": 12, "dtype": "f32", "shape": [3], "encoding": "dense", "quant": null},
    {"section": 1, "offset": FW_OFF, "length": 240, "dtype": "f32", "shape": [5, 12], "encoding": "dense"}
  ],
  "gears": [
    {"name": "fp32", "compute": "f32", "constants": [[1, 0], [2, 1], [5, 2]]},
    {"name": "fp32-shared", "compute": "f32", "constants": [[5, 2], [2, 1], [1, 0]]}
  ]
})";
  m.manifest = Replace(m.manifest, "W_OFF", std::to_string(w_off));
  m.manifest = Replace(m.manifest, "B_OFF", std::to_string(b_off));
  m.manifest = Replace(m.manifest, "FW_OFF", std::to_string(fw_off));
  return m;
}

std::vector<uint8_t> SmallFile() {
  SmallModel m = MakeSmallModel();
  return BuildGearFile(m.manifest, m.data);
}

// The small model with one manifest substring replaced.
std::vector<uint8_t> SmallFileWith(const std::string& from, const std::string& to) {
  SmallModel m = MakeSmallModel();
  return BuildGearFile(Replace(m.manifest, from, to), m.data);
}

// ---- valid files ---------------------------------------------------------------

TEST(GearReaderTest, LoadsSmallModel) {
  std::unique_ptr<GearFile> file;
  const std::vector<uint8_t> bytes = SmallFile();
  ASSERT_TRUE(Load(bytes, &file).ok()) << Load(bytes).message();
  const ModelDesc& m = file->model();
  EXPECT_EQ(file->file_size(), bytes.size());
  EXPECT_EQ(m.version_major, 1);
  EXPECT_EQ(m.version_minor, 0);
  EXPECT_EQ(m.producer, "test");
  ASSERT_EQ(m.tensors.size(), 7u);
  EXPECT_EQ(m.tensors[0].name, "x");
  EXPECT_EQ(m.tensors[0].shape, (Shape{-1, 4, 4, 2}));
  EXPECT_FALSE(m.tensors[0].is_const);
  EXPECT_TRUE(m.tensors[1].is_const);
  EXPECT_EQ(m.inputs, std::vector<int>{0});
  EXPECT_EQ(m.outputs, std::vector<int>{6});
  ASSERT_EQ(m.nodes.size(), 3u);
  EXPECT_EQ(m.nodes[0].op, OpType::kConv2D);
  EXPECT_EQ(m.nodes[0].name, "conv");
  EXPECT_EQ(m.nodes[0].inputs, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(m.nodes[0].attrs.padding, Padding::kValid);
  EXPECT_EQ(m.nodes[0].attrs.activation, Activation::kRelu);
  EXPECT_EQ(m.nodes[1].op, OpType::kReshape);
  EXPECT_EQ(m.nodes[1].attrs.shape, (std::vector<int64_t>{12}));
  EXPECT_EQ(m.nodes[2].inputs, (std::vector<int>{4, 5, -1}));
  EXPECT_EQ(m.nodes[2].attrs.activation, Activation::kNone);
  ASSERT_EQ(m.storage.size(), 3u);
  for (const StorageDesc& s : m.storage) {
    ASSERT_NE(s.data, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(s.data) % 64, 0u);
  }
  float v;
  std::memcpy(&v, m.storage[1].data + 8, 4);
  EXPECT_EQ(v, 3.0f);
  std::memcpy(&v, m.storage[2].data, 4);
  EXPECT_EQ(v, -0.5f);
  ASSERT_EQ(m.gears.size(), 2u);
  EXPECT_EQ(m.gears[0].name, "fp32");
  EXPECT_EQ(m.gears[0].compute, "f32");
  EXPECT_EQ(m.gears[0].constant_storage, (std::vector<int>{-1, 0, 1, -1, -1, 2, -1}));
  EXPECT_EQ(m.gears[1].constant_storage, m.gears[0].constant_storage);
}

TEST(GearReaderTest, OpenFromDiskWithAndWithoutMmap) {
  const std::vector<uint8_t> bytes = SmallFile();
  char path[] = "/tmp/gear_reader_testXXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fd);
  for (bool use_mmap : {true, false}) {
    GearFile::Options options;
    options.use_mmap = use_mmap;
    std::unique_ptr<GearFile> file;
    Status s = GearFile::Open(path, options, &file);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(file->model().tensors.size(), 7u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(file->model().storage[0].data) % 64, 0u);
  }
  std::remove(path);
}

TEST(GearReaderTest, OpenErrors) {
  std::unique_ptr<GearFile> file;
  Status s = GearFile::Open("/nonexistent/dir/model.gear", {}, &file);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("/nonexistent/dir/model.gear"), std::string::npos);
  s = GearFile::Open("/tmp", {}, &file);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("directory"), std::string::npos) << s.message();
  s = GearFile::Open("/dev/null", {}, &file);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.message();
  // An empty file is a format error (too short), not an IO error.
  char path[] = "/tmp/gear_reader_emptyXXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  s = GearFile::Open(path, {}, &file);
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  std::remove(path);
  EXPECT_EQ(GearFile::FromBuffer(nullptr, 10, {}, &file).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GearFile::FromBuffer(nullptr, 0, {}, &file).code(), StatusCode::kFormatError);
}

// One valid single-node model per op, with its attributes.
struct OpCase {
  const char* op;
  std::vector<int64_t> x_shape;
  std::vector<std::vector<int64_t>> const_shapes;  // extra constant inputs
  bool bias_absent;
  const char* attrs;
  std::vector<int64_t> out_shape;
};

std::vector<uint8_t> BuildOpModel(const OpCase& c) {
  GearModelBuilder b;
  std::vector<int> ins = {b.AddInput("x", c.x_shape)};
  int k = 0;
  for (const auto& shape : c.const_shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    ins.push_back(b.AddConst("c" + std::to_string(k++), shape,
                             std::vector<float>(static_cast<size_t>(n), 0.5f)));
  }
  if (c.bias_absent) ins.push_back(-1);
  const int y = b.AddTensor("y", c.out_shape);
  b.AddNode("n0", c.op, ins, {y}, c.attrs);
  b.AddOutput(y);
  return b.Build();
}

TEST(GearReaderTest, EveryOpWithAttrs) {
  const std::vector<OpCase> cases = {
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}, {4}}, false,
       R"({"stride":[2,1],"dilation":[1,2],"padding":"SAME","activation":"RELU6"})",
       {-1, 3, 5, 4}},
      {"CONV_2D", {1, 5, 5, 2}, {{4, 3, 3, 2}}, true,
       R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID"})", {1, 3, 3, 4}},
      {"DEPTHWISE_CONV_2D", {-1, 5, 5, 2}, {{1, 3, 3, 6}, {6}}, false,
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":3,"activation":"NONE"})",
       {-1, 5, 5, 6}},
      {"FULLY_CONNECTED", {-1, 8}, {{3, 8}, {3}}, false, R"({"activation":"RELU_N1_TO_1"})",
       {-1, 3}},
      {"FULLY_CONNECTED", {-1, 8}, {{3, 8}}, true, "{}", {-1, 3}},
      {"MAX_POOL_2D", {-1, 4, 4, 3}, {}, false,
       R"({"filter":[2,2],"stride":[2,2],"padding":"VALID","activation":"NONE"})",
       {-1, 2, 2, 3}},
      {"AVERAGE_POOL_2D", {-1, 4, 4, 3}, {}, false,
       R"({"filter":[3,3],"stride":[1,1],"padding":"SAME"})", {-1, 4, 4, 3}},
      {"MEAN", {-1, 4, 4, 3}, {}, false, R"({"axes":[1,2],"keep_dims":false})", {-1, 3}},
      {"RELU", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"RELU6", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"RELU_N1_TO_1", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"LOGISTIC", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"TANH", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"HARD_SWISH", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"SOFTMAX", {-1, 7}, {}, false, R"({"beta":0.5})", {-1, 7}},
      {"SOFTMAX", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"ADD", {-1, 2, 7}, {{7}}, false, R"({"activation":"RELU"})", {-1, 2, 7}},
      {"MUL", {-1, 7}, {{1, 7}}, false, "{}", {-1, 7}},
      {"CONCATENATION", {-1, 2, 3}, {{1, 2, 3}}, false, R"({"axis":2,"activation":"NONE"})",
       {-1, 2, 6}},
      {"CONCATENATION", {-1, 2, 3}, {}, false, R"({"axis":0})", {-1, 2, 3}},
      {"RESHAPE", {-1, 2, 3}, {}, false, R"({"shape":[-1]})", {-1, 6}},
      {"RESHAPE", {-1, 2, 3}, {}, false, R"({"shape":[3,1,2]})", {-1, 3, 1, 2}},
      {"PAD", {-1, 2, 3}, {}, false, R"({"paddings":[[0,0],[1,2],[0,3]]})", {-1, 5, 6}},
  };
  for (const OpCase& c : cases) {
    SCOPED_TRACE(std::string(c.op) + " " + c.attrs);
    std::unique_ptr<GearFile> file;
    Status s = Load(BuildOpModel(c), &file);
    ASSERT_TRUE(s.ok()) << s.message();
    const NodeDesc& n = file->model().nodes[0];
    EXPECT_EQ(n.name, "n0");
    EXPECT_EQ(n.outputs.size(), 1u);
  }
  // Attribute values land in NodeAttrs.
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(Load(BuildOpModel(cases[2]), &file).ok());
  const NodeAttrs& dw = file->model().nodes[0].attrs;
  EXPECT_EQ(file->model().nodes[0].op, OpType::kDepthwiseConv2D);
  EXPECT_EQ(dw.depth_multiplier, 3);
  EXPECT_EQ(dw.padding, Padding::kSame);
  ASSERT_TRUE(Load(BuildOpModel(cases[0]), &file).ok());
  const NodeAttrs& conv = file->model().nodes[0].attrs;
  EXPECT_EQ(conv.stride_h, 2);
  EXPECT_EQ(conv.stride_w, 1);
  EXPECT_EQ(conv.dilation_h, 1);
  EXPECT_EQ(conv.dilation_w, 2);
  EXPECT_EQ(conv.activation, Activation::kRelu6);
  ASSERT_TRUE(Load(BuildOpModel(cases[5]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.filter_h, 2);
  ASSERT_TRUE(Load(BuildOpModel(cases[7]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.axes, (std::vector<int>{1, 2}));
  EXPECT_FALSE(file->model().nodes[0].attrs.keep_dims);
  ASSERT_TRUE(Load(BuildOpModel(cases[14]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.beta, 0.5f);
  ASSERT_TRUE(Load(BuildOpModel(cases[15]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.beta, 1.0f);
  ASSERT_TRUE(Load(BuildOpModel(cases[18]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.axis, 2);
  ASSERT_TRUE(Load(BuildOpModel(cases[20]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.shape, (std::vector<int64_t>{-1}));
  ASSERT_TRUE(Load(BuildOpModel(cases[22]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.paddings,
            (std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 2}, {0, 3}}));
}

TEST(GearReaderTest, MissingAndBadAttrs) {
  struct Bad {
    const char* op;
    std::vector<int64_t> x;
    std::vector<std::vector<int64_t>> consts;
    const char* attrs;
    const char* needle;
  };
  const std::vector<Bad> bad = {
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}}, R"({"dilation":[1,1],"padding":"SAME"})",
       "nodes[0].attrs: missing required attribute \"stride\""},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}}, R"({"stride":[1,1],"padding":"SAME"})",
       "missing required attribute \"dilation\""},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}}, R"({"stride":[1,1],"dilation":[1,1]})",
       "missing required attribute \"padding\""},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}},
       R"({"stride":"x","dilation":[1,1],"padding":"SAME"})",
       "nodes[0].attrs.stride: expected array of 2 integers, found string"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}},
       R"({"stride":[1,0],"dilation":[1,1],"padding":"SAME"})", "nodes[0].attrs.stride[1]"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}},
       R"({"stride":[1,1,1],"dilation":[1,1],"padding":"SAME"})", "expected array of 2"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"FULL"})", "\"SAME\" or \"VALID\""},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"GELU"})",
       "nodes[0].attrs.activation"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","groups":2})",
       "unknown attribute \"groups\" for CONV_2D"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}},
       R"({"stride":[2147483648,1],"dilation":[1,1],"padding":"SAME"})", "out of range"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}}, R"([])", "nodes[0].attrs: expected object"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME"})",
       "nodes[0] (n0): CONV_2D filter shape [4,3,3] must have rank 4"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 5}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME"})", "input channels"},
      {"CONV_2D", {-1, 5, 5}, {{4, 3, 3, 5}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME"})", "must have rank 4 (NHWC)"},
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}, {5}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME"})", "bias shape [5] must be [4]"},
      {"DEPTHWISE_CONV_2D", {-1, 5, 5, 2}, {{1, 3, 3, 6}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME"})",
       "missing required attribute \"depth_multiplier\""},
      {"DEPTHWISE_CONV_2D", {-1, 5, 5, 2}, {{1, 3, 3, 6}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":0})",
       "depth_multiplier"},
      {"DEPTHWISE_CONV_2D", {-1, 5, 5, 2}, {{1, 3, 3, 6}},
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":2})", "C*M"},
      {"FULLY_CONNECTED", {-1, 8}, {{3, 7}}, "{}", "last dimension"},
      {"FULLY_CONNECTED", {-1, 8}, {{24}}, "{}", "must have rank 2"},
      {"MAX_POOL_2D", {-1, 4, 4, 3}, {}, R"({"filter":[2,2],"padding":"VALID"})",
       "missing required attribute \"stride\""},
      {"AVERAGE_POOL_2D", {-1, 4, 4, 3}, {}, R"({"stride":[2,2],"padding":"VALID"})",
       "missing required attribute \"filter\""},
      {"MEAN", {-1, 4, 4, 3}, {}, R"({"axes":[1,2]})", "missing required attribute \"keep_dims\""},
      {"MEAN", {-1, 4, 4, 3}, {}, R"({"axes":[1,4],"keep_dims":true})", "out of range"},
      {"MEAN", {-1, 4, 4, 3}, {}, R"({"axes":[1,1],"keep_dims":true})", "repeated"},
      {"MEAN", {-1, 4, 4, 3}, {}, R"({"axes":[-1],"keep_dims":true})", "axes[0]"},
      {"MEAN", {-1, 4, 4, 3}, {}, R"({"axes":[1],"keep_dims":1})", "expected boolean"},
      {"SOFTMAX", {-1, 7}, {}, R"({"beta":"1"})", "nodes[0].attrs.beta: expected number"},
      {"SOFTMAX", {-1, 7}, {}, R"({"beta":1e300})", "does not fit a float"},
      {"RELU", {-1, 7}, {}, R"({"activation":"RELU"})", "unknown attribute \"activation\""},
      {"CONCATENATION", {-1, 2, 3}, {}, "{}", "missing required attribute \"axis\""},
      {"CONCATENATION", {-1, 2, 3}, {}, R"({"axis":3})", "out of range"},
      {"CONCATENATION", {-1, 2, 3}, {}, R"({"axis":-1})", "nodes[0].attrs.axis"},
      {"CONCATENATION", {-1, 2, 3}, {{2, 3}}, R"({"axis":0})", "different rank"},
      {"RESHAPE", {-1, 2, 3}, {}, "{}", "missing required attribute \"shape\""},
      {"RESHAPE", {-1, 2, 3}, {}, R"({"shape":[-1,-1]})", "at most one dimension may be -1"},
      {"RESHAPE", {-1, 2, 3}, {}, R"({"shape":[0,6]})", "dimension 0 is not allowed"},
      {"RESHAPE", {-1, 2, 3}, {}, R"({"shape":[1099511627776,1099511627776]})", "overflows"},
      {"RESHAPE", {-1, 2, 3}, {}, R"({"shape":[1,1,1,1,1,6]})", "expected array of integers"},
      {"PAD", {-1, 2, 3}, {}, R"({"paddings":[[0,0],[1,2]]})", "expected 3..3 elements"},
      {"PAD", {-1, 2, 3}, {}, R"({"paddings":[[0,0],[1,2],[0,-1]]})", "paddings[2][1]"},
      {"PAD", {-1, 2, 3}, {}, R"({"paddings":[[0,0],[1,2],[0]]})", "array of 2 integers"},
      {"PAD", {-1, 2, 3}, {}, R"({"paddings":3})", "expected array of [before, after] pairs"},
  };
  for (const Bad& c : bad) {
    SCOPED_TRACE(std::string(c.op) + " " + c.attrs);
    OpCase oc{c.op, c.x, c.consts, false, c.attrs, {-1, 1}};
    // Ops with an optional bias need three inputs.
    const std::string op = c.op;
    if ((op == "CONV_2D" || op == "DEPTHWISE_CONV_2D" || op == "FULLY_CONNECTED") &&
        c.consts.size() == 1) {
      oc.bias_absent = true;
    }
    ExpectFormatError(BuildOpModel(oc), c.needle);
  }
}

TEST(GearReaderTest, NodeStructureErrors) {
  ExpectFormatError(SmallFileWith("\"op\": \"CONV_2D\"", "\"op\": \"CONV_3D\""),
                    "nodes[0] (conv): unknown op \"CONV_3D\"");
  ExpectFormatError(SmallFileWith("\"inputs\": [0, 1, 2]", "\"inputs\": [0, 1]"),
                    "nodes[0] (conv): CONV_2D takes 3 inputs, found 2");
  ExpectFormatError(SmallFileWith("\"inputs\": [0, 1, 2]", "\"inputs\": [0, -1, 2]"),
                    "-1 (absent) is only allowed for the bias");
  ExpectFormatError(SmallFileWith("\"inputs\": [0, 1, 2]", "\"inputs\": [0, 1, 7]"),
                    "nodes[0].inputs[2]: integer 7 out of range [-1, 6]");
  ExpectFormatError(SmallFileWith("\"inputs\": [0, 1, 2]", "\"inputs\": [0, 1, -2]"),
                    "out of range");
  ExpectFormatError(SmallFileWith("\"outputs\": [3]", "\"outputs\": [3, 4]"),
                    "has exactly 1 output");
  ExpectFormatError(SmallFileWith("\"outputs\": [3]", "\"outputs\": []"), "has exactly 1 output");
  ExpectFormatError(SmallFileWith("\"outputs\": [3]", "\"outputs\": [1]"),
                    "tensor 1 (conv/w) is a constant");
  ExpectFormatError(SmallFileWith("\"outputs\": [3]", "\"outputs\": [0]"), "is a graph input");
  // Produced twice.
  ExpectFormatError(SmallFileWith("\"inputs\": [3], \"outputs\": [4]",
                                  "\"inputs\": [3], \"outputs\": [3]"),
                    "nodes[1] (reshape): outputs[0]: tensor 3 (conv/out) is already produced by "
                    "nodes[0]");
  ExpectFormatError(SmallFileWith("\"inputs\": [4, 5, -1], \"outputs\": [6]",
                                  "\"inputs\": [4, 5, -1], \"outputs\": [3]"),
                    "already produced by nodes[0]");
  ExpectFormatError(SmallFileWith("\"name\": \"conv\", \"op\"", "\"name\": 5, \"op\""),
                    "nodes[0].name: expected string, found integer");
  ExpectFormatError(SmallFileWith("\"name\": \"conv\", \"op\": \"CONV_2D\",", "\"op\": \"CONV_2D\","),
                    "nodes[0]: missing required key \"name\"");
  ExpectFormatError(SmallFileWith("\"nodes\": [", "\"nodes\": [7, "), "nodes[0]: expected object");
  ExpectFormatError(SmallFileWith("\"nodes\": [", "\"nodes\": {\"a\":[ "), "");
}

TEST(GearReaderTest, TopologicalOrderAndCycles) {
  // Swap conv and reshape: reshape now reads conv/out before it is produced.
  SmallModel m = MakeSmallModel();
  const std::string conv =
      R"({"name": "conv", "op": "CONV_2D", "inputs": [0, 1, 2], "outputs": [3],
     "attrs": {"stride": [1, 1], "dilation": [1, 1], "padding": "VALID", "activation": "RELU"}})";
  const std::string reshape =
      R"({"name": "reshape", "op": "RESHAPE", "inputs": [3], "outputs": [4], "attrs": {"shape": [12]}})";
  std::string swapped = Replace(m.manifest, conv, "@@");
  swapped = Replace(swapped, reshape, conv);
  swapped = Replace(swapped, "@@", reshape);
  ExpectFormatError(BuildGearFile(swapped, m.data),
                    "nodes[0] (reshape): inputs[0]: tensor 3 (conv/out) is not a graph input, a "
                    "constant, or an output of an earlier node");
  // A two-node cycle: a -> b -> a.
  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 2});
  const int t1 = b.AddTensor("t1", {-1, 2});
  const int t2 = b.AddTensor("t2", {-1, 2});
  b.AddNode("a", "ADD", {x, t2}, {t1});
  b.AddNode("b", "RELU", {t1}, {t2});
  b.AddOutput(t2);
  ExpectFormatError(b.Build(), "nodes[0] (a): inputs[1]: tensor 2 (t2)");
  // A self-loop.
  GearModelBuilder c;
  const int cx = c.AddInput("x", {-1, 2});
  const int ct = c.AddTensor("t", {-1, 2});
  c.AddNode("self", "ADD", {cx, ct}, {ct});
  c.AddOutput(ct);
  ExpectFormatError(c.Build(), "nodes[0] (self): inputs[1]");
}

TEST(GearReaderTest, TensorErrors) {
  ExpectFormatError(SmallFileWith("\"name\": \"flat\"", "\"name\": \"x\""),
                    "tensors[4].name: duplicate tensor name, also used by tensors[0]");
  ExpectFormatError(SmallFileWith("\"name\": \"flat\"", "\"name\": \"\""), "non-empty");
  ExpectFormatError(SmallFileWith("[-1, 12]", "[-1, 1099511627776, 1099511627776]"),
                    "tensors[4].shape: element count");
  ExpectFormatError(SmallFileWith("[-1, 12]", "[-1, 9223372036854775807, 2]"), "overflows");
  ExpectFormatError(SmallFileWith("[-1, 12]", "[-1, 0]"), "tensors[4].shape[1]: dimension is 0");
  ExpectFormatError(SmallFileWith("[-1, 12]", "[12, -1]"), "tensors[4].shape[1]");
  ExpectFormatError(SmallFileWith("[-1, 12]", "[-1, 1, 1, 1, 1, 1, 12]"), "tensors[4].shape");
  ExpectFormatError(SmallFileWith("[-1, 12]", "[-1, 12.0]"), "found number at index 1");
  ExpectFormatError(SmallFileWith("[-1, 12]", "[-1, 9223372036854775808]"), "tensors[4].shape");
  ExpectFormatError(SmallFileWith("\"shape\": [3], \"dtype\": \"f32\", \"const\": true",
                                  "\"shape\": [-1], \"dtype\": \"f32\", \"const\": true"),
                    "tensors[2].shape[0]: dimension is -1; expected >= 1");
  ExpectFormatError(SmallFileWith("\"shape\": [-1, 12], \"dtype\": \"f32\"",
                                  "\"shape\": [-1, 12], \"dtype\": \"f16\""),
                    "tensors[4].dtype: expected \"f32\"");
  ExpectFormatError(SmallFileWith("\"shape\": [-1, 12], \"dtype\": \"f32\"",
                                  "\"shape\": [-1, 12]"),
                    "tensors[4]: missing required key \"dtype\"");
  ExpectFormatError(SmallFileWith("\"const\": true}", "\"const\": 1}"),
                    "tensors[1].const: expected boolean, found integer");
  ExpectFormatError(SmallFileWith("\"tensors\": [", "\"tensors\": {\"x\": 1, \"y\": ["),
                    "");
}

TEST(GearReaderTest, GraphIoErrors) {
  ExpectFormatError(SmallFileWith("\"inputs\": [0]", "\"inputs\": [7]"),
                    "inputs[0]: integer 7 out of range [0, 6]");
  ExpectFormatError(SmallFileWith("\"inputs\": [0]", "\"inputs\": [1]"),
                    "inputs[0]: tensor 1 (conv/w) is a constant");
  ExpectFormatError(SmallFileWith("\"inputs\": [0]", "\"inputs\": [0, 0]"),
                    "inputs[1]: tensor 0 is listed twice");
  ExpectFormatError(SmallFileWith("\"inputs\": [0]", "\"inputs\": 0"),
                    "inputs: expected array of tensor indices, found integer");
  ExpectFormatError(SmallFileWith("\"outputs\": [6]", "\"outputs\": []"),
                    "outputs: the graph has no outputs");
  ExpectFormatError(SmallFileWith("\"outputs\": [6]", "\"outputs\": [-1]"), "outputs[0]");
  ExpectFormatError(SmallFileWith("\"inputs\": [0],", ""), "manifest: missing required key \"inputs\"");
  // A non-constant tensor nobody produces.
  ExpectFormatError(SmallFileWith("{\"name\": \"y\", \"shape\": [-1, 5], \"dtype\": \"f32\"}",
                                  "{\"name\": \"y\", \"shape\": [-1, 5], \"dtype\": \"f32\"}, "
                                  "{\"name\": \"orphan\", \"shape\": [2], \"dtype\": \"f32\"}"),
                    "tensors[7] (orphan): not a constant, not a graph input, and produced by no "
                    "node");
}

TEST(GearReaderTest, StorageErrors) {
  SmallModel m = MakeSmallModel();
  const std::string w0 = "{\"section\": 1, \"offset\": 0, \"length\": 216";
  ExpectFormatError(SmallFileWith(w0, "{\"section\": 2, \"offset\": 0, \"length\": 216"),
                    "storage[0].section: integer 2 out of range [0, 1]");
  ExpectFormatError(SmallFileWith(w0, "{\"section\": 0, \"offset\": 0, \"length\": 216"),
                    "storage[0].section: section 0 (MANIFEST) is not a TENSOR_DATA section");
  ExpectFormatError(SmallFileWith(w0, "{\"section\": 1, \"offset\": 32, \"length\": 216"),
                    "storage[0].offset: offset 32 is not a multiple of the alignment 64");
  ExpectFormatError(SmallFileWith(w0, "{\"section\": 1, \"offset\": 0, \"length\": 212"),
                    "storage[0].length: 212 bytes, but dense f32 [3,3,3,2] needs 216");
  ExpectFormatError(SmallFileWith(w0, "{\"section\": 1, \"offset\": 640, \"length\": 216"),
                    "storage[0]: bytes [640, +216) lie outside section 1 (TENSOR_DATA)");
  ExpectFormatError(
      SmallFileWith(w0, "{\"section\": 1, \"offset\": 9223372036854775744, \"length\": 216"),
      "lie outside");
  ExpectFormatError(
      SmallFileWith(w0, "{\"section\": 1, \"offset\": 0, \"length\": 9223372036854775807"),
      "lie outside");
  ExpectFormatError(SmallFileWith(w0, "{\"section\": 1, \"offset\": -64, \"length\": 216"),
                    "storage[0].offset");
  ExpectFormatError(SmallFileWith("\"dtype\": \"f32\", \"shape\": [3, 3, 3, 2], \"encoding\"",
                                  "\"dtype\": \"u8\", \"shape\": [3, 3, 3, 2], \"encoding\""),
                    "storage[0].dtype: unknown storage dtype \"u8\" (known: f32, f16, i8, i32)");
  ExpectFormatError(SmallFileWith("\"dtype\": \"f32\", \"shape\": [3, 3, 3, 2], \"encoding\"",
                                  "\"dtype\": \"f16\", \"shape\": [3, 3, 3, 2], \"encoding\""),
                    "storage[0].length: 216 bytes, but dense f16 [3,3,3,2] needs 108");
  ExpectFormatError(SmallFileWith("\"encoding\": \"dense\"}", "\"encoding\": \"zstd\"}"),
                    "storage[0].encoding: unknown encoding \"zstd\"");
  ExpectFormatError(SmallFileWith("\"encoding\": \"dense\"}", "\"encoding\": \"csr\"}"),
                    "storage[0].encoding: encoding \"csr\" yields i8 values, but dtype is \"f32\"");
  ExpectFormatError(SmallFileWith("\"quant\": null", "\"quant\": {}"),
                    "storage[1].quant: must be absent or null");
  // FORMAT.md: `base` belongs to q8r4 and q4m entries; a dense one naming a base is refused.
  ExpectFormatError(
      SmallFileWith("\"encoding\": \"dense\"}", "\"encoding\": \"dense\", \"base\": 1}"),
      "storage[0].base: only q8r4, q8r8 and q4m entries have a base");
  ExpectFormatError(SmallFileWith("\"shape\": [3], \"encoding\"", "\"shape\": [0], \"encoding\""),
                    "storage[1].shape[0]");
  ExpectFormatError(SmallFileWith("\"shape\": [3], \"encoding\"",
                                  "\"shape\": [4294967296, 4294967296], \"encoding\""),
                    "storage[1].shape: element count");
}

TEST(GearReaderTest, GearErrors) {
  ExpectFormatError(SmallFileWith("\"name\": \"fp32-shared\"", "\"name\": \"fp32\""),
                    "gears[1].name: duplicate gear name, also used by gears[0]");
  ExpectFormatError(SmallFileWith("\"name\": \"fp32\"", "\"name\": \"\""), "non-empty");
  ExpectFormatError(
      SmallFileWith("\"compute\": \"f32\", \"constants\": [[1, 0]",
                    "\"compute\": \"q16\", \"constants\": [[1, 0]"),
      "gears[0].compute: unknown compute token \"q16\" (known: f32, f16, q8, q4, q8+f32, q4+f32)");
  ExpectFormatError(SmallFileWith("\"compute\": \"f32\", \"constants\": [[1, 0]",
                                  "\"compute\": \"q8\", \"constants\": [[1, 0]"),
                    "gears[0].constants[0]: tensor 1 (conv/w): compute \"q8\" takes i8 dense, "
                    "bitmap, csr or 2:4 storage with symmetric per-channel quant on axis 0 as "
                    "weights of nodes[0] "
                    "(conv); storage[0] is f32 dense");
  ExpectFormatError(SmallFileWith("[[1, 0], [2, 1], [5, 2]]", "[[1, 0], [2, 1]]"),
                    "gears[0].constants: no storage for constant tensor 5 (fc/w)");
  ExpectFormatError(SmallFileWith("[[1, 0], [2, 1], [5, 2]]", "[[1, 0], [2, 1], [5, 2], [1, 0]]"),
                    "gears[0].constants[3]: tensor 1 (conv/w) is listed twice");
  ExpectFormatError(SmallFileWith("[[1, 0], [2, 1], [5, 2]]", "[[1, 0], [2, 1], [5, 2], [0, 0]]"),
                    "tensor 0 (x) is not a constant");
  ExpectFormatError(SmallFileWith("[[1, 0], [2, 1], [5, 2]]", "[[1, 0], [2, 1], [5, 3]]"),
                    "gears[0].constants[2]: storage index 3 out of range [0, 3)");
  ExpectFormatError(SmallFileWith("[[1, 0], [2, 1], [5, 2]]", "[[1, 0], [2, 1], [9, 2]]"),
                    "tensor index 9 out of range");
  ExpectFormatError(SmallFileWith("[[1, 0], [2, 1], [5, 2]]", "[[1, 0], [2, 2], [5, 1]]"),
                    "gears[0].constants[1]: storage[2] shape [5,12] differs from tensor 2 "
                    "(conv/b) shape [3]");
  ExpectFormatError(SmallFileWith("[[1, 0], [2, 1], [5, 2]]", "[[1, 0], [2, 1], [5]]"),
                    "gears[0].constants[2]: expected array of 2 integers");
  SmallModel m = MakeSmallModel();
  const size_t g = m.manifest.find("\"gears\"");
  std::string no_gears = m.manifest.substr(0, g) + "\"gears\": []}";
  ExpectFormatError(BuildGearFile(no_gears, m.data), "gears: the file carries no gear");
}

TEST(GearReaderTest, UnknownKeysOutsideAttrsAreIgnored) {
  std::vector<uint8_t> f = SmallFileWith("\"producer\": \"test\",",
                                         "\"producer\": \"test\", \"future\": {\"x\": [1]},");
  EXPECT_TRUE(Load(f).ok());
  f = SmallFileWith("{\"name\": \"fp32\",", "{\"name\": \"fp32\", \"notes\": 1,");
  EXPECT_TRUE(Load(f).ok());
  f = SmallFileWith("\"encoding\": \"dense\"}", "\"encoding\": \"dense\", \"future\": 1}");
  EXPECT_TRUE(Load(f).ok());
  // Known optional keys still have to have the right type.
  ExpectFormatError(SmallFileWith("\"producer\": \"test\"", "\"producer\": 1"),
                    "producer: expected string");
  ExpectFormatError(SmallFileWith("\"metadata\": {\"user.k\": \"v\"}", "\"metadata\": []"),
                    "metadata: expected object");
}

TEST(GearReaderTest, ManifestJsonErrors) {
  SmallModel m = MakeSmallModel();
  ExpectFormatError(BuildGearFile("[1, 2]", m.data), "manifest: expected a JSON object, found array");
  ExpectFormatError(BuildGearFile("{\"tensors\": [}", m.data),
                    "section 0 (MANIFEST): invalid manifest: JSON error at byte 13");
  ExpectFormatError(BuildGearFile("", m.data), "JSON error at byte 0");
  ExpectFormatError(BuildGearFile("\xEF\xBB\xBF" + m.manifest, m.data), "JSON error at byte 0");
  ExpectFormatError(BuildGearFile(m.manifest + "\n{}", m.data), "after the JSON value");
  std::string deep = m.manifest;
  deep.insert(deep.size() - 1, ", \"deep\": " + std::string(64, '[') + std::string(64, ']'));
  ExpectFormatError(BuildGearFile(deep, m.data), "nesting deeper than 64");
  std::string ok_deep = m.manifest;
  ok_deep.insert(ok_deep.size() - 1, ", \"deep\": " + std::string(63, '[') + std::string(63, ']'));
  EXPECT_TRUE(Load(BuildGearFile(ok_deep, m.data)).ok());
  ExpectFormatError(SmallFileWith("\"producer\": \"test\",",
                                  "\"producer\": \"test\", \"producer\": \"x\","),
                    "duplicate object key \"producer\"");
  ExpectFormatError(SmallFileWith("\"name\": \"fp32\"", "\"name\": \"fp\xC3\""), "UTF-8");
  ExpectFormatError(SmallFileWith("\"name\": \"fp32\"", "\"name\": \"fp\x01\""),
                    "control character");
}

TEST(GearReaderTest, ManifestSizeLimit) {
  // A manifest above 64 MiB is refused before parsing.
  std::string big(size_t{64} << 20, ' ');
  SmallModel m = MakeSmallModel();
  std::string manifest = m.manifest + big;
  ExpectFormatError(BuildGearFile(manifest, m.data), "more than the manifest limit");
}

// ---- header and section table -----------------------------------------------------

TEST(GearReaderTest, HeaderErrors) {
  const std::vector<uint8_t> good = SmallFile();
  ExpectFormatError({}, "header: file is 0 bytes, shorter than the 64-byte header");
  ExpectFormatError(std::vector<uint8_t>(good.begin(), good.begin() + 63), "shorter");
  std::vector<uint8_t> f = good;
  f[3] = 'X';
  ExpectFormatError(f, "header.magic");
  f = good;
  PutLe(&f, testing::kOffAlignment, 48, 4);
  ExpectFormatError(f, "header.alignment: expected a power of two in [16, 65536], found 48");
  PutLe(&f, testing::kOffAlignment, 8, 4);
  ExpectFormatError(f, "header.alignment");
  PutLe(&f, testing::kOffAlignment, 131072, 4);
  ExpectFormatError(f, "header.alignment");
  f = good;
  PutLe(&f, testing::kOffFlags, 1, 4);
  ExpectFormatError(f, "header.flags");
  f = good;
  PutLe(&f, testing::kOffFileSize, good.size() + 1, 8);
  ExpectFormatError(f, "header.file_size: header says");
  f = good;
  f.push_back(0);
  ExpectFormatError(f, "(extended)");
  f = good;
  PutLe(&f, testing::kOffSectionCount, 0, 4);
  ExpectFormatError(f, "header.section_count: expected 1..1024, found 0");
  PutLe(&f, testing::kOffSectionCount, 1025, 4);
  ExpectFormatError(f, "header.section_count");
  PutLe(&f, testing::kOffSectionCount, 1000, 4);
  ExpectFormatError(f, "past the end of the");
  f = good;
  PutLe(&f, testing::kOffSectionTableOffset, 128, 8);
  ExpectFormatError(f, "header.section_table_offset");
  f = good;
  f[testing::kOffHeaderCrc] ^= 1;
  ExpectFormatError(f, "header.header_crc32c: CRC32C mismatch: stored 0x");
  f = good;
  f[SectionEntryOffset(1) + testing::kOffSecCrc] ^= 0x80;  // table is covered too
  ExpectFormatError(f, "header.header_crc32c");
}

TEST(GearReaderTest, VersionHandling) {
  SmallModel m = MakeSmallModel();
  for (uint16_t minor : {0, 1, 7, 65535}) {
    std::unique_ptr<GearFile> file;
    Status s = Load(BuildGearFile(m.manifest, m.data, 1, minor), &file);
    ASSERT_TRUE(s.ok()) << minor << ": " << s.message();
    EXPECT_EQ(file->model().version_minor, minor);
  }
  Status s = Load(BuildGearFile(m.manifest, m.data, 2, 3));
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("2.3"), std::string::npos) << s.message();
  const std::string ours = "format 1." + std::to_string(kFormatMinor);  // the reader's own
  EXPECT_NE(s.message().find(ours), std::string::npos) << s.message();
  s = Load(BuildGearFile(m.manifest, m.data, 0, 9));
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find("0.9"), std::string::npos) << s.message();
}

std::vector<GearSection> SmallSections() {
  SmallModel m = MakeSmallModel();
  std::vector<GearSection> s(2);
  s[0].kind = testing::kSectionManifest;
  s[0].payload.assign(m.manifest.begin(), m.manifest.end());
  s[1].kind = testing::kSectionTensorData;
  s[1].payload = m.data;
  return s;
}

TEST(GearReaderTest, SectionErrors) {
  const std::vector<uint8_t> good = SmallFile();
  const size_t e0 = SectionEntryOffset(0), e1 = SectionEntryOffset(1);
  auto patched = [&](size_t off, uint64_t v, int bytes) {
    std::vector<uint8_t> f = good;
    PutLe(&f, off, v, bytes);
    RefreshGearCrcs(&f);
    return f;
  };
  ExpectFormatError(patched(e1 + testing::kOffSecKind, 4, 4),
                    "section 1 (kind 4): unknown section kind 4");
  ExpectFormatError(patched(e1 + testing::kOffSecKind, 65536, 4), "unknown section kind");
  ExpectFormatError(patched(e1 + testing::kOffSecKind, 1, 4),
                    "expected exactly one MANIFEST section, found 2");
  ExpectFormatError(patched(e0 + testing::kOffSecKind, 2, 4),
                    "expected exactly one MANIFEST section, found 0");
  ExpectFormatError(patched(e1 + testing::kOffSecFlags, 4, 4),
                    "section 1 (TENSOR_DATA): flags: expected 0, found 0x00000004");
  const uint64_t off1 = testing::GetLe(good, e1 + testing::kOffSecOffset, 8);
  ExpectFormatError(patched(e1 + testing::kOffSecOffset, off1 + 16, 8),
                    "section 1 (TENSOR_DATA): offset " + std::to_string(off1 + 16) +
                        " is not a multiple of the alignment 64");
  ExpectFormatError(patched(e0 + testing::kOffSecOffset, 64, 8),
                    "section 0 (MANIFEST): offset 64 overlaps the section table");
  ExpectFormatError(patched(e1 + testing::kOffSecOffset, off1 - 64, 8), "overlaps");
  ExpectFormatError(patched(e1 + testing::kOffSecSize, good.size(), 8),
                    "extend past the end of the");
  ExpectFormatError(patched(e1 + testing::kOffSecSize, UINT64_MAX, 8), "extend past the end");
  ExpectFormatError(patched(e1 + testing::kOffSecOffset, UINT64_MAX - 63, 8),
                    "extend past the end");
  // Sections out of order (data first, manifest second in the table while
  // the manifest lies first in the file).
  {
    std::vector<uint8_t> f = good;
    std::vector<uint8_t> tmp(f.begin() + e0, f.begin() + e0 + 32);
    std::copy(f.begin() + e1, f.begin() + e1 + 32, f.begin() + e0);
    std::copy(tmp.begin(), tmp.end(), f.begin() + e1);
    RefreshGearCrcs(&f);
    ExpectFormatError(f, "increasing offset order");
  }
  // CRC mismatches name the section and both values.
  {
    std::vector<uint8_t> f = good;
    f[off1 + 5] ^= 0x10;
    const uint32_t stored = static_cast<uint32_t>(testing::GetLe(good, e1 + testing::kOffSecCrc, 4));
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%08x", stored);
    ExpectFormatError(f, std::string("section 1 (TENSOR_DATA): CRC32C mismatch: stored ") + buf +
                             ", computed 0x");
    // verify_checksums=false skips data sections ...
    EXPECT_TRUE(Load(f, nullptr, false).ok());
    // ... but never the manifest.
    std::vector<uint8_t> g = good;
    const uint64_t off0 = testing::GetLe(good, e0 + testing::kOffSecOffset, 8);
    g[off0 + 3] ^= 0x01;
    Status s = Load(g, nullptr, false);
    EXPECT_NE(s.message().find("section 0 (MANIFEST): CRC32C mismatch"), std::string::npos)
        << s.message();
  }
}

TEST(GearReaderTest, LayoutVariants) {
  // Optional kinds are CRC-checked and skipped; zero data sections are fine
  // for a model without constants; the manifest need not be section 0.
  std::vector<GearSection> s = SmallSections();
  GearSection opt;
  opt.kind = 4000;
  opt.payload = {1, 2, 3};
  std::vector<GearSection> with_opt = {s[0], s[1], opt};
  std::vector<uint8_t> f = BuildGearFileSections(with_opt);
  EXPECT_TRUE(Load(f).ok()) << Load(f).message();
  f[f.size() - 1] ^= 1;
  ExpectFormatError(f, "section 2 (kind 4000): CRC32C mismatch");

  std::vector<GearSection> data_first = {s[1], s[0]};
  SmallModel m = MakeSmallModel();
  std::string manifest = m.manifest;
  for (size_t pos = 0; (pos = manifest.find("\"section\": 1", pos)) != std::string::npos;) {
    manifest.replace(pos, 12, "\"section\": 0");
  }
  data_first[1].payload.assign(manifest.begin(), manifest.end());
  f = BuildGearFileSections(data_first);
  EXPECT_TRUE(Load(f).ok()) << Load(f).message();

  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 3});
  const int y = b.AddTensor("y", {-1, 3});
  b.AddNode("r", "RELU", {x}, {y});
  b.AddOutput(y);
  GearSection only;
  only.kind = testing::kSectionManifest;
  const std::string j = b.ManifestJson();
  only.payload.assign(j.begin(), j.end());
  f = BuildGearFileSections({only});
  EXPECT_TRUE(Load(f).ok()) << Load(f).message();

  // Other alignments: 16 (payloads copied to 64-byte aligned memory) and 4096.
  for (uint32_t align : {16u, 32u, 4096u}) {
    SCOPED_TRACE(align);
    std::vector<uint8_t> data;
    const uint64_t o1 = AppendF32(&data, {1, 2, 3}, align);
    const uint64_t o2 = AppendF32(&data, {4, 5, 6, 7}, align);
    GearModelBuilder mb;
    const int in = mb.AddInput("x", {-1, 3});
    const int out = mb.AddTensor("y", {-1, 3});
    mb.AddNode("r", "RELU", {in}, {out});
    mb.AddOutput(out);
    std::string mj = mb.ManifestJson();
    mj = Replace(mj, "\"storage\":[]",
                 "\"storage\":[{\"section\":1,\"offset\":" + std::to_string(o1) +
                     ",\"length\":12,\"dtype\":\"f32\",\"shape\":[3],\"encoding\":\"dense\"},"
                     "{\"section\":1,\"offset\":" + std::to_string(o2) +
                     ",\"length\":16,\"dtype\":\"f32\",\"shape\":[4],\"encoding\":\"dense\"}]");
    GearLayout layout;
    layout.alignment = align;
    std::vector<GearSection> secs(2);
    secs[0].kind = testing::kSectionManifest;
    secs[0].payload.assign(mj.begin(), mj.end());
    secs[1].payload = data;
    std::unique_ptr<GearFile> file;
    Status st = Load(BuildGearFileSections(secs, layout), &file);
    ASSERT_TRUE(st.ok()) << st.message();
    const StorageDesc& sd = file->model().storage[1];
    EXPECT_EQ(reinterpret_cast<uintptr_t>(sd.data) % 64, 0u);
    float v;
    std::memcpy(&v, sd.data + 12, 4);
    EXPECT_EQ(v, 7.0f);
  }
}

// ---- corruption corpus --------------------------------------------------------------

TEST(GearReaderTest, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> good = SmallFile();
  ASSERT_TRUE(Load(good).ok());
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> f(good.begin(), good.begin() + n);
    Status s = Load(f);
    ASSERT_FALSE(s.ok()) << "truncated to " << n;
    ASSERT_EQ(s.code(), StatusCode::kFormatError) << n << ": " << s.message();
  }
}

TEST(GearReaderTest, EveryByteFlipInHeaderTableAndManifest) {
  const std::vector<uint8_t> good = SmallFile();
  const uint64_t man_off =
      testing::GetLe(good, SectionEntryOffset(0) + testing::kOffSecOffset, 8);
  const uint64_t man_size = testing::GetLe(good, SectionEntryOffset(0) + testing::kOffSecSize, 8);
  const size_t end = static_cast<size_t>(man_off + man_size);
  size_t refused = 0, total = 0;
  for (size_t pos = 0; pos < end; ++pos) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> f = good;
      f[pos] ^= mask;
      Status s = Load(f);
      ++total;
      if (!s.ok()) {
        ++refused;
        ASSERT_TRUE(s.code() == StatusCode::kFormatError || s.code() == StatusCode::kUnsupported)
            << pos << ": " << s.message();
      }
    }
  }
  // Everything except flips in unchecked reserved bytes and zero padding
  // between the table and the manifest is covered by a CRC.
  EXPECT_GT(refused, total * 8 / 10);
}

TEST(GearReaderTest, ManifestFlipsWithFixedCrcNeverCrash) {
  // With CRCs recomputed, each flipped manifest byte reaches the JSON parser
  // and validator: they must refuse or accept, never crash.
  const std::vector<uint8_t> good = SmallFile();
  const uint64_t man_off =
      testing::GetLe(good, SectionEntryOffset(0) + testing::kOffSecOffset, 8);
  const uint64_t man_size = testing::GetLe(good, SectionEntryOffset(0) + testing::kOffSecSize, 8);
  size_t accepted = 0;
  for (size_t pos = man_off; pos < man_off + man_size; ++pos) {
    for (uint8_t mask : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}) {
      std::vector<uint8_t> f = good;
      f[pos] ^= mask;
      RefreshGearCrcs(&f);
      Status s = Load(f);
      if (s.ok()) {
        ++accepted;
      } else {
        ASSERT_EQ(s.code(), StatusCode::kFormatError) << s.message();
      }
    }
  }
  // Some flips keep the file valid (e.g. inside names, whitespace).
  EXPECT_GT(accepted, 0u);
}

TEST(GearReaderTest, HeaderFieldFuzzWithFixedCrc) {
  // Extreme values in every header and section-table field, CRC fixed up.
  const std::vector<uint8_t> good = SmallFile();
  const uint64_t values[] = {0, 1, 15, 16, 63, 64, 65, 1023, 1024, 1025, 0x7FFFFFFF,
                             0xFFFFFFFF, 0x100000000ull, 0x7FFFFFFFFFFFFFFFull, UINT64_MAX,
                             static_cast<uint64_t>(good.size()),
                             static_cast<uint64_t>(good.size()) - 64};
  struct Field {
    size_t off;
    int bytes;
  };
  std::vector<Field> fields = {{4, 2}, {6, 2}, {8, 4}, {12, 4}, {16, 8}, {24, 8}, {36, 4}};
  for (size_t i = 0; i < 2; ++i) {
    const size_t e = SectionEntryOffset(i);
    for (Field fl : std::vector<Field>{{e, 4}, {e + 4, 4}, {e + 8, 8}, {e + 16, 8}}) {
      fields.push_back(fl);
    }
  }
  size_t accepted = 0, rejected = 0;
  for (const Field& field : fields) {
    for (uint64_t v : values) {
      std::vector<uint8_t> f = good;
      PutLe(&f, field.off, v, field.bytes);
      if (field.off != 12) RefreshGearCrcs(&f);  // a bad count makes the table unreadable
      Status s = Load(f);
      // Validity depends on the value; a refusal is always a format or
      // version error with a message, never another kind of failure.
      if (s.ok()) {
        ++accepted;
      } else {
        ++rejected;
        EXPECT_TRUE(s.code() == StatusCode::kFormatError || s.code() == StatusCode::kUnsupported)
            << "offset " << field.off << " value " << v << ": " << s.message();
        EXPECT_FALSE(s.message().empty());
      }
    }
  }
  // Most extremes break the header; a few (e.g. reserved or equal values) do not.
  EXPECT_GT(rejected, fields.size() * 8);
  EXPECT_GT(accepted, 0u);
}

// ---- format 1.1: quantized storage and gears ------------------------------------

using testing::MixedGearModel;

// The mixed 1.1 model (gear_builder.h) with one manifest substring replaced.
std::vector<uint8_t> MixedFileWith(const std::string& from, const std::string& to,
                                   const testing::MixedModelOptions& opt = {}) {
  const GearModelBuilder b = MixedGearModel(opt);
  return BuildGearFile(Replace(b.ManifestJson(), from, to), b.data(), 1, 1);
}
std::vector<uint8_t> MixedFile() { return MixedGearModel().Build(); }

TEST(GearReader11Test, LoadsEveryDtypeEncodingAndCompute) {
  std::unique_ptr<GearFile> file;
  const std::vector<uint8_t> bytes = MixedFile();
  Status s = Load(bytes, &file);
  ASSERT_TRUE(s.ok()) << s.message();
  const ModelDesc& m = file->model();
  EXPECT_EQ(m.version_minor, 1);
  ASSERT_EQ(m.storage.size(), 12u);
  EXPECT_EQ(m.storage[4].dtype, StorageDType::kF16);
  EXPECT_EQ(m.storage[4].length, 24u);
  EXPECT_EQ(m.storage[5].dtype, StorageDType::kI8);
  EXPECT_TRUE(m.storage[5].quant.present);
  EXPECT_EQ(m.storage[5].quant.axis, 0);
  EXPECT_EQ(m.storage[5].quant.scale,
            (std::vector<float>{0.015625f, 0.03125f, 0.046875f, 0.0078125f}));
  EXPECT_EQ(m.storage[5].quant.zero_point, (std::vector<int32_t>{0, 0, 0, 0}));  // default
  EXPECT_EQ(m.storage[6].dtype, StorageDType::kI32);
  EXPECT_EQ(m.storage[6].quant.scale[0], 0.0006103515625f);
  EXPECT_EQ(m.storage[8].quant.axis, -1);
  EXPECT_EQ(m.storage[8].quant.zero_point, (std::vector<int32_t>{3}));
  EXPECT_EQ(m.storage[9].encoding, Encoding::kQ8R4);
  EXPECT_EQ(m.storage[9].base, 5);
  EXPECT_EQ(m.storage[9].length, 6u);
  EXPECT_EQ(m.storage[10].encoding, Encoding::kQ4M);
  EXPECT_EQ(m.storage[10].block, 2);
  EXPECT_EQ(m.storage[10].length, 0u);
  EXPECT_EQ(m.storage[10].data, nullptr);
  EXPECT_EQ(m.storage[10].quant.scale, m.storage[5].quant.scale);  // the base's
  EXPECT_EQ(m.storage[11].quant.axis, 0);
  for (const StorageDesc& sd : m.storage) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(sd.data) % 64, 0u);
  }
  ASSERT_EQ(m.gears.size(), 4u);
  EXPECT_EQ(m.gears[0].arith, Compute::kF32);
  EXPECT_EQ(m.gears[1].arith, Compute::kF16);
  EXPECT_EQ(m.gears[2].arith, Compute::kQ8);
  EXPECT_EQ(m.gears[3].arith, Compute::kQ4);
  EXPECT_EQ(m.gears[3].compute, "q4");
  EXPECT_TRUE(m.gears[0].activations.empty());
  ASSERT_EQ(m.gears[2].activations.size(), m.tensors.size());
  EXPECT_EQ(m.gears[2].activations[0].scale, 0.0390625f);
  EXPECT_EQ(m.gears[2].activations[0].zero_point, -5);
  EXPECT_EQ(m.gears[2].activations[10].zero_point, 7);
  EXPECT_EQ(m.gears[3].constant_storage[1], 10);
}

TEST(GearReader11Test, QuantScaleErrors) {
  const std::string w = "\"scale\":[0.015625,0.03125,0.046875,0.0078125]";
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,0,0.0078125]"),
                    "storage[5].quant.scale[2]: must be > 0, got 0");
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,-0.5,0.0078125]"),
                    "storage[5].quant.scale[2]: must be > 0, got -0.5");
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,0.1,0.0078125]"),
                    "storage[5].quant.scale[2]: must be a float32 value, got "
                    "0.10000000000000001 (nearest float32: 0.100000001)");
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,1e39,0.0078125]"),
                    "storage[5].quant.scale[2]: must be a finite float32");
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,1e-50,0.0078125]"),
                    "storage[5].quant.scale[2]: must be a float32 value");
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,\"1\",0.0078125]"),
                    "storage[5].quant.scale[2]: expected number, found string");
  // JSON has no NaN or infinity: the manifest does not parse.
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,NaN,0.0078125]"),
                    "invalid manifest");
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,1e400,0.0078125]"),
                    "invalid manifest");
  ExpectFormatError(MixedFileWith(w, "\"scale\":[0.015625,0.03125,0.046875]"),
                    "storage[5].quant.scale: 3 values, expected 4 (shape[0] of [4,1,1,3])");
  ExpectFormatError(MixedFileWith(w, "\"scale\":0.5"),
                    "storage[5].quant.scale: expected array of numbers or (1.6) a params "
                    "reference, found number");
  ExpectFormatError(MixedFileWith("\"scale\":[0.0234375]", "\"scale\":[0.0234375,1]"),
                    "storage[8].quant.scale: 2 values, expected 1 (axis null");
  ExpectFormatError(MixedFileWith("{\"axis\":0,\"scale\":[0.015625", "{\"scale\":[0.015625"),
                    "storage[5].quant.scale: 4 values, expected 1");
  // A bias scale that is not exactly a float32 (a double product).
  ExpectFormatError(MixedFileWith("0.0006103515625,", "0.00061035156,"),
                    "storage[6].quant.scale[0]: must be a float32 value");
}

// ---- format 1.6: binary parameters in the PARAMS section ------------------------

// Little-endian bytes of float32 / int32 values (PARAMS payloads).
std::vector<uint8_t> F32Le(const std::vector<float>& v) {
  std::vector<uint8_t> b;
  for (float f : v) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(u >> (8 * i)));
  }
  return b;
}

// One 12-byte activation record {int32 tensor; float32 scale; int32 zero_point}.
std::vector<uint8_t> Record(int32_t t, float s, int32_t z) {
  std::vector<uint8_t> r(12, 0);
  uint32_t bits;
  std::memcpy(&bits, &s, 4);
  PutLe(&r, 0, static_cast<uint32_t>(t), 4);
  PutLe(&r, 4, bits, 4);
  PutLe(&r, 8, static_cast<uint32_t>(z), 4);
  return r;
}

// The q8 gear's activations of the mixed model as 12-byte records, read back
// from the JSON-form file (the oracle).
std::vector<uint8_t> ActivationRecords(const ModelDesc& m, size_t gear) {
  std::vector<uint8_t> b;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    if (m.tensors[t].is_const) continue;
    const ActQuant& a = m.gears[gear].activations[t];
    const std::vector<uint8_t> r = Record(static_cast<int32_t>(t), a.scale, a.zero_point);
    b.insert(b.end(), r.begin(), r.end());
  }
  return b;
}

// The activations array of gear `which` (0-based among gears that have one) in
// the manifest text, "activations":[...]] included.
std::string ActivationsJson(const std::string& manifest, int which) {
  size_t pos = 0;
  for (int i = 0; i <= which; ++i) pos = manifest.find("\"activations\":[", pos + 1);
  const size_t end = manifest.find("]]", pos);
  return manifest.substr(pos, end + 2 - pos);
}

// The mixed model in the 1.6 form: storage[5]'s four scales and the int8
// gear's activations in a PARAMS section (section 2, after TENSOR_DATA), then
// `edit` applied to the manifest and `params` patched by `patch`.
struct Binary16 {
  std::string manifest;
  std::vector<uint8_t> params;
  std::vector<uint8_t> data;
  std::vector<uint8_t> Build(uint16_t minor = 6) const {
    std::vector<GearSection> s(3);
    s[0].kind = testing::kSectionManifest;
    s[0].payload.assign(manifest.begin(), manifest.end());
    s[1].kind = testing::kSectionTensorData;
    s[1].payload = data;
    s[2].kind = 3;  // PARAMS
    s[2].payload = params;
    GearLayout layout;
    layout.minor = minor;
    return BuildGearFileSections(s, layout);
  }
};

Binary16 MixedBinary() {
  const GearModelBuilder b = MixedGearModel();
  std::unique_ptr<GearFile> json_form;
  EXPECT_TRUE(Load(b.Build(), &json_form).ok());
  const ModelDesc& m = json_form->model();
  Binary16 out;
  out.data = b.data();
  out.params = F32Le(m.storage[5].quant.scale);               // offset 0, 4 floats
  const std::vector<uint8_t> acts = ActivationRecords(m, 2);  // offset 16
  out.params.insert(out.params.end(), acts.begin(), acts.end());
  const std::string w = "\"scale\":[0.015625,0.03125,0.046875,0.0078125]";
  std::string text = Replace(b.ManifestJson(), w, "\"scale\":{\"offset\":0,\"count\":4}");
  const std::string a = ActivationsJson(text, 0);  // the int8 gear's
  const size_t records = acts.size() / 12;
  text =
      Replace(text, a, "\"activations\":{\"offset\":16,\"count\":" + std::to_string(records) + "}");
  out.manifest = text;
  return out;
}

TEST(GearReader16Test, BinaryParamsLoadAsTheJsonForm) {
  std::unique_ptr<GearFile> json_form, binary;
  ASSERT_TRUE(Load(MixedFile(), &json_form).ok());
  const Binary16 b = MixedBinary();
  Status s = Load(b.Build(), &binary);
  ASSERT_TRUE(s.ok()) << s.message();
  const ModelDesc &j = json_form->model(), &m = binary->model();
  EXPECT_EQ(m.version_minor, 6);
  ASSERT_EQ(m.storage.size(), j.storage.size());
  for (size_t k = 0; k < m.storage.size(); ++k) {
    EXPECT_EQ(m.storage[k].quant.axis, j.storage[k].quant.axis) << k;
    EXPECT_EQ(m.storage[k].quant.scale, j.storage[k].quant.scale) << k;
    EXPECT_EQ(m.storage[k].quant.zero_point, j.storage[k].quant.zero_point) << k;
  }
  ASSERT_EQ(m.gears.size(), j.gears.size());
  for (size_t g = 0; g < m.gears.size(); ++g) {
    ASSERT_EQ(m.gears[g].activations.size(), j.gears[g].activations.size());
    for (size_t t = 0; t < m.gears[g].activations.size(); ++t) {
      EXPECT_EQ(m.gears[g].activations[t].scale, j.gears[g].activations[t].scale);
      EXPECT_EQ(m.gears[g].activations[t].zero_point, j.gears[g].activations[t].zero_point);
    }
  }
  // The PARAMS section is manifest data: its CRC is checked even when the
  // data sections' are not.
  std::vector<uint8_t> f = b.Build();
  const uint64_t off = testing::GetLe(f, SectionEntryOffset(2) + testing::kOffSecOffset, 8);
  f[off + 1] ^= 1;  // a bit of the first scale, CRC left stale
  Status bad = Load(f, nullptr, /*verify=*/false);
  EXPECT_NE(bad.message().find("section 2 (PARAMS): CRC32C mismatch"), std::string::npos)
      << bad.message();
}

// A later minor's required section kind: refused, and the message says that the
// reader is the older party (what a 1.5 reader cannot say of a 1.6 file).
TEST(GearReader16Test, UnknownKindOfANewerMinorNamesBothVersions) {
  Binary16 b = MixedBinary();
  std::vector<uint8_t> f = b.Build(/*minor=*/kFormatMinor + 1);
  PutLe(&f, SectionEntryOffset(2) + testing::kOffSecKind, 4, 4);
  RefreshGearCrcs(&f);
  ExpectFormatError(f, "section 2 (kind 4): unknown section kind 4");
  ExpectFormatError(f, "; the file is format 1." + std::to_string(kFormatMinor + 1) +
                           ", newer than this reader's 1." + std::to_string(kFormatMinor));
  f = b.Build();
  PutLe(&f, SectionEntryOffset(2) + testing::kOffSecKind, 4, 4);
  RefreshGearCrcs(&f);
  Status s = Load(f);
  EXPECT_EQ(s.message().find("newer"), std::string::npos) << s.message();
}

TEST(GearReader16Test, BinaryParamsErrors) {
  const Binary16 good = MixedBinary();
  auto with_scales = [&](const std::vector<float>& v) {
    Binary16 b = good;
    const std::vector<uint8_t> s = F32Le(v);
    std::copy(s.begin(), s.end(), b.params.begin());
    return b.Build();
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  ExpectFormatError(with_scales({0.015625f, 0.03125f, nan, 0.0078125f}),
                    "storage[5].quant.scale[2]: scale must be a finite float32 > 0, got NaN");
  ExpectFormatError(with_scales({0.015625f, 0.03125f, 0.f, 0.0078125f}),
                    "storage[5].quant.scale[2]: scale must be a finite float32 > 0, got 0");
  ExpectFormatError(with_scales({0.015625f, -0.5f, 0.5f, 0.0078125f}),
                    "storage[5].quant.scale[1]: scale must be a finite float32 > 0, got -0.5");
  ExpectFormatError(with_scales({-0.f, 0.5f, 0.5f, 0.5f}), "storage[5].quant.scale[0]: scale");
  ExpectFormatError(with_scales({0.5f, 0.5f, 0.5f, inf}), "storage[5].quant.scale[3]: scale");
  auto edited = [&](const std::string& from, const std::string& to) {
    Binary16 b = good;
    b.manifest = Replace(b.manifest, from, to);
    return b.Build();
  };
  const std::string ref = "\"scale\":{\"offset\":0,\"count\":4}";
  ExpectFormatError(edited(ref, "\"scale\":{\"offset\":0,\"count\":3}"),
                    "storage[5].quant.scale: 3 values, expected 4 (shape[0] of [4,1,1,3])");
  ExpectFormatError(edited(ref, "\"scale\":{\"offset\":2,\"count\":4}"),
                    "storage[5].quant.scale.offset: offset 2 is not a multiple of 4");
  const std::string size = std::to_string(good.params.size());
  ExpectFormatError(edited(ref, "\"scale\":{\"offset\":" + size + ",\"count\":4}"),
                    "storage[5].quant.scale: 4 values of 4 bytes from offset " + size +
                        " lie outside section 2 (PARAMS) of " + size + " bytes");
  ExpectFormatError(edited(ref, "\"scale\":{\"offset\":9223372036854775804,\"count\":4}"),
                    "lie outside section 2 (PARAMS)");
  ExpectFormatError(edited(ref, "\"scale\":{\"offset\":0,\"count\":4611686018427387904}"),
                    "lie outside section 2 (PARAMS)");
  ExpectFormatError(edited(ref, "\"scale\":{\"offset\":-4,\"count\":4}"),
                    "storage[5].quant.scale.offset");
  ExpectFormatError(edited(ref, "\"scale\":{\"offset\":0,\"count\":0}"),
                    "storage[5].quant.scale.count");
  ExpectFormatError(edited(ref, "\"scale\":{\"count\":4}"),
                    "storage[5].quant.scale: missing required key \"offset\"");
  // Zero points: int32 values with the JSON form's range rules.
  {
    Binary16 b = good;
    const size_t at = b.params.size();
    const std::vector<uint8_t> z = testing::I32Bytes({0, 0, 200, 0});
    b.params.insert(b.params.end(), z.begin(), z.end());
    b.manifest =
        Replace(b.manifest, ref,
                ref + ",\"zero_point\":{\"offset\":" + std::to_string(at) + ",\"count\":4}");
    ExpectFormatError(b.Build(),
                      "storage[5].quant.zero_point[2]: zero point 200 out of the "
                      "i8 range [-128, 127]");
  }
  // Truncated: the section ends inside the activation records.
  {
    Binary16 b = good;
    b.params.resize(b.params.size() - 4);
    ExpectFormatError(b.Build(), "gears[2].activations: ");
    ExpectFormatError(b.Build(), "lie outside section 2 (PARAMS)");
  }
  // Activation records: tensor index, constant, duplicate, scale, zero point.
  auto record = [&](size_t i, int32_t t, float s, int32_t z) {
    Binary16 b = good;
    const std::vector<uint8_t> r = Record(t, s, z);
    std::copy(r.begin(), r.end(), b.params.begin() + 16 + 12 * i);
    return b.Build();
  };
  ExpectFormatError(record(0, 1000, 0.5f, 0), "gears[2].activations[0]: tensor index 1000 out of");
  ExpectFormatError(record(0, -1, 0.5f, 0), "gears[2].activations[0]: tensor index -1 out of");
  ExpectFormatError(record(0, 1, 0.5f, 0), "is a constant; its parameters are its storage's");
  ExpectFormatError(record(1, 0, 0.5f, 0), "gears[2].activations[1]: tensor 0 (");
  ExpectFormatError(record(0, 0, nan, 0),
                    "gears[2].activations[0].scale: scale must be a finite float32 > 0, got NaN");
  ExpectFormatError(record(0, 0, 0.0390625f, -129),
                    "gears[2].activations[0].zero_point: -129 out of the i8 range");
  // A reference needs the section; one section at most.
  {
    Binary16 b = good;
    std::vector<GearSection> s(2);
    s[0].kind = testing::kSectionManifest;
    s[0].payload.assign(b.manifest.begin(), b.manifest.end());
    s[1].kind = testing::kSectionTensorData;
    s[1].payload = b.data;
    ExpectFormatError(BuildGearFileSections(s),
                      "storage[5].quant.scale: a params reference {\"offset\", \"count\"}, but "
                      "the file has no PARAMS section");
    s.push_back(s[1]);
    s[1].kind = 3;
    s[1].payload = b.params;
    s.push_back(s[1]);
    ExpectFormatError(BuildGearFileSections(s),
                      "section 3 (PARAMS): a second PARAMS section; a file has at most one");
  }
}

TEST(GearReader11Test, QuantAxisAndZeroPointErrors) {
  ExpectFormatError(MixedFileWith("{\"axis\":0,\"scale\":[0.015625", "{\"axis\":4,\"scale\":[0.015625"),
                    "storage[5].quant.axis: axis 4 out of range for shape [4,1,1,3]");
  ExpectFormatError(MixedFileWith("{\"axis\":0,\"scale\":[0.015625", "{\"axis\":-1,\"scale\":[0.015625"),
                    "storage[5].quant.axis: axis -1 out of range");
  ExpectFormatError(MixedFileWith("{\"axis\":0,\"scale\":[0.015625", "{\"axis\":\"0\",\"scale\":[0.015625"),
                    "storage[5].quant.axis: expected integer, found string");
  ExpectFormatError(MixedFileWith("\"zero_point\":[3]", "\"zero_point\":[128]"),
                    "storage[8].quant.zero_point[0]: zero point 128 out of the i8 range [-128, 127]");
  ExpectFormatError(MixedFileWith("\"zero_point\":[3]", "\"zero_point\":[-129]"),
                    "storage[8].quant.zero_point[0]: zero point -129 out of the i8 range");
  ExpectFormatError(MixedFileWith("\"zero_point\":[3]", "\"zero_point\":[3.5]"),
                    "storage[8].quant.zero_point: expected array of 1 integers, found number");
  ExpectFormatError(MixedFileWith("\"zero_point\":[3]", "\"zero_point\":[3,3]"),
                    "storage[8].quant.zero_point: expected array of 1 integers, found 2 elements");
  ExpectFormatError(MixedFileWith("\"zero_point\":[0,0,0,0]", "\"zero_point\":[0,1,0,0]"),
                    "storage[6].quant.zero_point[1]: must be 0 for i32 storage, got 1");
  EXPECT_TRUE(Load(MixedFileWith("\"zero_point\":[0,0,0,0]", "\"zero_point\":null")).ok());
  // Integer storage needs quant; float storage must not have it.
  ExpectFormatError(
      MixedFileWith(",\"quant\":{\"axis\":null,\"scale\":[0.0234375],\"zero_point\":[3]}", ""),
      "storage[8]: an i8 entry needs \"quant\"");
  ExpectFormatError(MixedFileWith("\"quant\":{\"axis\":null,", "\"quant\":null,\"q\":{\"axis\":null,"),
                    "storage[8]: an i8 entry needs \"quant\"");
  ExpectFormatError(MixedFileWith("\"dtype\":\"f16\",\"shape\":[4,1,1,3],\"encoding\":\"dense\"",
                                  "\"dtype\":\"f16\",\"shape\":[4,1,1,3],\"encoding\":\"dense\","
                                  "\"quant\":{\"scale\":[1]}"),
                    "storage[4].quant: must be absent or null for f16 storage");
  ExpectFormatError(MixedFileWith("\"quant\":{\"axis\":null,", "\"quant\":[{\"axis\":null,"),
                    "");
}

TEST(GearReader11Test, EncodingErrors) {
  // q8r4: one residual nibble per element, f32 only, over a per-channel i8 base.
  ExpectFormatError(
      MixedFileWith("\"length\":6,\"dtype\":\"f32\"", "\"length\":5,\"dtype\":\"f32\""),
      "storage[9].length: 5 bytes, but q8r4 f32 [4,1,1,3] needs 6");
  ExpectFormatError(MixedFileWith("\"length\":6,\"dtype\":\"f32\"", "\"length\":6,\"dtype\":\"i8\""),
                    "storage[9].encoding: encoding \"q8r4\" yields f32 values, but dtype is \"i8\"");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q8r4\",\"base\":5", "\"encoding\":\"q8r4\""),
                    "storage[9]: missing required key \"base\"");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q8r4\",\"base\":5", "\"encoding\":\"q8r4\",\"base\":12"),
                    "storage[9].base: integer 12 out of range [0, 11]");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q8r4\",\"base\":5", "\"encoding\":\"q8r4\",\"base\":0"),
                    "storage[9].base: storage[0] is f32 dense; a base must be an i8 entry "
                    "(dense, bitmap, csr or 2:4)");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q8r4\",\"base\":5", "\"encoding\":\"q8r4\",\"base\":9"),
                    "storage[9].base: storage[9] is f32 q8r4");
  // q8r8 (1.7): one residual byte per element, f32 only, the same base rules.
  ExpectFormatError(MixedFileWith("\"encoding\":\"q8r4\"", "\"encoding\":\"q8r8\""),
                    "storage[9].length: 6 bytes, but q8r8 f32 [4,1,1,3] needs 12 (one byte per "
                    "value stored by storage[5])");
  {
    const GearModelBuilder b = MixedGearModel();
    const std::string m =
        Replace(Replace(b.ManifestJson(), "\"encoding\":\"q8r4\"", "\"encoding\":\"q8r8\""),
                "\"length\":6,\"dtype\":\"f32\"", "\"length\":6,\"dtype\":\"i8\"");
    ExpectFormatError(
        BuildGearFile(m, b.data(), 1, 1),
        "storage[9].encoding: encoding \"q8r8\" yields f32 values, but dtype is \"i8\"");
  }
  ExpectFormatError(
      MixedFileWith("\"encoding\":\"q8r4\",\"base\":5", "\"encoding\":\"q8r8\",\"base\":0"),
      "storage[9].base: storage[0] is f32 dense; a base must be an i8 entry "
      "(dense, bitmap, csr or 2:4)");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q8r4\",\"base\":5", "\"encoding\":\"q8r8\""),
                    "storage[9]: missing required key \"base\"");
  // q4m: no payload, a block, a per-channel base of the same shape.
  ExpectFormatError(MixedFileWith("\"encoding\":\"q4m\",\"base\":5", "\"encoding\":\"q4m\",\"base\":6"),
                    "storage[10].base: storage[6] is i32 dense; a base must be an i8 entry "
                    "(dense, bitmap, csr or 2:4)");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q4m\",\"base\":5", "\"encoding\":\"q4m\",\"base\":8"),
                    "storage[10].base: storage[8] is quantized per tensor");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q4m\",\"base\":5", "\"encoding\":\"q4m\",\"base\":7"),
                    "storage[10].base: storage[7] has shape [2,8], this entry [4,1,1,3]");
  ExpectFormatError(MixedFileWith("\"encoding\":\"q4m\",\"base\":5", "\"encoding\":\"q4m\",\"base\":10"),
                    "storage[10].base: storage[10] is i8 q4m");
  ExpectFormatError(MixedFileWith("\"base\":5,\"block\":2", "\"base\":5,\"block\":0"),
                    "storage[10].block: integer 0 out of range [1, 65536]");
  ExpectFormatError(MixedFileWith("\"base\":5,\"block\":2", "\"base\":5,\"block\":65537"),
                    "storage[10].block: integer 65537 out of range [1, 65536]");
  ExpectFormatError(MixedFileWith("\"base\":5,\"block\":2", "\"base\":5"),
                    "storage[10]: missing required key \"block\"");
  EXPECT_TRUE(Load(MixedFileWith("\"base\":5,\"block\":2", "\"base\":5,\"block\":65536")).ok());
  ExpectFormatError(MixedFileWith("{\"dtype\":\"i8\",\"shape\":[4,1,1,3],\"encoding\":\"q4m\"",
                                  "{\"section\":1,\"dtype\":\"i8\",\"shape\":[4,1,1,3],"
                                  "\"encoding\":\"q4m\""),
                    "storage[10].section: must be absent: a q4m entry has no payload");
  ExpectFormatError(MixedFileWith("{\"dtype\":\"i8\",\"shape\":[4,1,1,3],\"encoding\":\"q4m\"",
                                  "{\"length\":4,\"dtype\":\"i8\",\"shape\":[4,1,1,3],"
                                  "\"encoding\":\"q4m\""),
                    "storage[10].length: a q4m entry has no payload");
  EXPECT_TRUE(Load(MixedFileWith("{\"dtype\":\"i8\",\"shape\":[4,1,1,3],\"encoding\":\"q4m\"",
                                 "{\"length\":0,\"dtype\":\"i8\",\"shape\":[4,1,1,3],"
                                 "\"encoding\":\"q4m\""))
                  .ok());
  ExpectFormatError(MixedFileWith("{\"dtype\":\"i8\",\"shape\":[4,1,1,3],\"encoding\":\"q4m\"",
                                  "{\"dtype\":\"f32\",\"shape\":[4,1,1,3],\"encoding\":\"q4m\""),
                    "storage[10].encoding: encoding \"q4m\" yields i8 values, but dtype is \"f32\"");
  // A q4m entry may restate its base's quant, but not change it.
  EXPECT_TRUE(Load(MixedFileWith("\"base\":5,\"block\":2",
                                 "\"base\":5,\"block\":2,\"quant\":{\"axis\":0,\"scale\":"
                                 "[0.015625,0.03125,0.046875,0.0078125]}"))
                  .ok());
  ExpectFormatError(MixedFileWith("\"base\":5,\"block\":2",
                                  "\"base\":5,\"block\":2,\"quant\":{\"axis\":0,\"scale\":"
                                  "[0.015625,0.03125,0.046875,0.5]}"),
                    "storage[10].quant: differs from storage[5].quant");
  // Dense lengths follow the dtype's element size.
  ExpectFormatError(MixedFileWith("\"length\":16,\"dtype\":\"i32\"", "\"length\":4,\"dtype\":\"i32\""),
                    "storage[6].length: 4 bytes, but dense i32 [4] needs 16");
  ExpectFormatError(MixedFileWith("\"length\":12,\"dtype\":\"i8\"", "\"length\":48,\"dtype\":\"i8\""),
                    "storage[5].length: 48 bytes, but dense i8 [4,1,1,3] needs 12");
}

TEST(GearReader11Test, ComputeTokenConstantRules) {
  // f32 takes f32 storage only; f16 takes f16 or f32.
  ExpectFormatError(MixedFileWith("\"constants\":[[1,9],", "\"constants\":[[1,4],"),
                    "gears[0].constants[0]: tensor 1 (conv/w): compute \"f32\" takes f32 storage "
                    "(dense, q8r4 or q8r8); storage[4] is f16 dense");
  ExpectFormatError(MixedFileWith("\"constants\":[[1,9],", "\"constants\":[[1,5],"),
                    "storage[5] is i8 dense");
  EXPECT_TRUE(Load(MixedFileWith("\"constants\":[[1,4],", "\"constants\":[[1,9],")).ok());
  ExpectFormatError(MixedFileWith("\"constants\":[[1,4],", "\"constants\":[[1,10],"),
                    "gears[1].constants[0]: tensor 1 (conv/w): compute \"f16\" takes f16 or f32 "
                    "storage; storage[10] is i8 q4m");
  // q8: weights i8 dense per channel on the op's axis, biases i32, other
  // constants i8 per tensor.
  ExpectFormatError(MixedFileWith("\"constants\":[[1,5],", "\"constants\":[[1,10],"),
                    "gears[2].constants[0]: tensor 1 (conv/w): compute \"q8\" takes i8 dense, "
                    "bitmap, csr or 2:4 storage with symmetric per-channel quant on axis 0 as "
                    "weights of nodes[0] "
                    "(conv); storage[10] is i8 q4m");
  ExpectFormatError(MixedFileWith("\"constants\":[[1,5],", "\"constants\":[[1,0],"),
                    "storage[0] is f32 dense");
  ExpectFormatError(MixedFileWith("[2,6],[7,7],[9,8]]", "[2,1],[7,7],[9,8]]"),
                    "gears[2].constants[1]: tensor 2 (conv/b): compute \"q8\" takes i32 dense "
                    "storage with per-channel quant on axis 0 as bias of nodes[0] (conv)");
  ExpectFormatError(MixedFileWith("[7,7],[9,8]]", "[7,7],[9,3]]"),
                    "gears[2].constants[3]: tensor 9 (k): compute \"q8\" takes i8 dense storage "
                    "with per-tensor quant (axis null) as an operand of nodes[5] (add)");
  ExpectFormatError(MixedFileWith("\"axis\":null,\"scale\":[0.0234375],\"zero_point\":[3]",
                                  "\"axis\":0,\"scale\":[0.0234375,0.0234375],\"zero_point\":[3,3]"),
                    "tensor 9 (k): compute \"q8\" takes i8 dense storage with per-tensor quant");
  ExpectFormatError(MixedFileWith("\"scale\":[0.00048828125,0.000732421875]}",
                                  "\"scale\":[0.00048828125,0.000732421875],\"zero_point\":[0,5]}"),
                    "gears[2].constants[2]: tensor 7 (fc/w): compute \"q8\" takes i8 dense, "
                    "bitmap, csr or 2:4 storage with symmetric per-channel quant on axis 0 as weights of nodes[4] (fc) (its "
                    "zero point 5 is not 0)");
  ExpectFormatError(MixedFileWith("{\"axis\":0,\"scale\":[0.015625", "{\"axis\":3,\"scale\":[0.015625,0.03125"
                                  ",0.046875,0.0078125],\"ignored\":[0.015625"),
                    "");
  // q4: weights are the q4m view, or i8 dense for a layer kept at int8 (the
  // converter's per-layer fallback); anything else is refused.
  EXPECT_TRUE(Load(MixedFileWith("\"constants\":[[1,10],", "\"constants\":[[1,5],")).ok());
  ExpectFormatError(MixedFileWith("\"constants\":[[1,10],", "\"constants\":[[1,0],"),
                    "gears[3].constants[0]: tensor 1 (conv/w): compute \"q4\"");
  // Symmetric weights never hold -128 (checked where a gear uses them).
  testing::MixedModelOptions opt;
  opt.conv_w0 = -128;
  ExpectFormatError(MixedGearModel(opt).Build(),
                    "storage[5]: value -128 at element 0; weights of CONV_2D, DEPTHWISE_CONV_2D "
                    "and FULLY_CONNECTED are symmetric, in [-127, 127]");
}

TEST(GearReader11Test, ActivationErrors) {
  ExpectFormatError(MixedFileWith("[3,0.02734375,-128],", ""),
                    "gears[2] (int8): tensor 3 (conv/out) has no activation parameters; a q8 gear "
                    "lists every non-constant tensor in \"activations\"");
  ExpectFormatError(MixedFileWith("\"activations\"", "\"activationz\""),
                    "gears[2] (int8): compute \"q8\" needs \"activations\"");
  ExpectFormatError(MixedFileWith("[[0,0.0390625,-5],", "null,[[0,0.0390625,-5],"), "");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[0,0,-5]"),
                    "gears[2].activations[0][1]: must be > 0, got 0");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[0,-0.0390625,-5]"),
                    "gears[2].activations[0][1]: must be > 0, got -0.0390625");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[0,0.3,-5]"),
                    "gears[2].activations[0][1]: must be a float32 value");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[0,0.0390625,-129]"),
                    "gears[2].activations[0][2]: integer -129 out of range [-128, 127]");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[0,0.0390625,-5.0]"),
                    "gears[2].activations[0][2]: expected integer, found number");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[0,0.0390625]"),
                    "gears[2].activations[0]: expected [tensor, scale, zero_point]");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[11,0.0390625,-5]"),
                    "gears[2].activations[0][0]: integer 11 out of range [0, 10]");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[1,0.0390625,-5]"),
                    "gears[2].activations[0]: tensor 1 (conv/w) is a constant");
  ExpectFormatError(MixedFileWith("[0,0.0390625,-5]", "[0,0.0390625,-5],[0,0.0390625,-5]"),
                    "gears[2].activations[1]: tensor 0 (x) is listed twice");
  ExpectFormatError(MixedFileWith("\"compute\":\"f32\",\"constants\":[[1,9],[2,1],[7,2],[9,3]]",
                                  "\"compute\":\"f32\",\"constants\":[[1,9],[2,1],[7,2],[9,3]],"
                                  "\"activations\":[[0,1,0]]"),
                    "gears[0].activations: only q8 and q4 gears carry activation parameters");
  EXPECT_TRUE(Load(MixedFileWith("\"compute\":\"f32\",\"constants\":[[1,9],[2,1],[7,2],[9,3]]",
                                 "\"compute\":\"f32\",\"constants\":[[1,9],[2,1],[7,2],[9,3]],"
                                 "\"activations\":[]"))
                  .ok());
}

TEST(GearReader11Test, ValueMovingOpsKeepTheirParameters) {
  // MAX_POOL_2D, RESHAPE and CONCATENATION: input and output (scale, zp) equal.
  ExpectFormatError(MixedFileWith("[4,0.02734375,-128]", "[4,0.02734375,-127]"),
                    "gears[2] (int8): nodes[1] (pool): input tensor 3 (conv/out) has (scale "
                    "0.02734375, zero point -128), output tensor 4 (pool) has (scale 0.02734375, "
                    "zero point -127); MAX_POOL_2D moves values without rescaling");
  ExpectFormatError(MixedFileWith("[5,0.02734375,-128]", "[5,0.0546875,-128]"),
                    "gears[2] (int8): nodes[2] (reshape): input tensor 4 (pool) has (scale "
                    "0.02734375, zero point -128), output tensor 5 (flat) has (scale 0.0546875, "
                    "zero point -128); RESHAPE moves values");
  ExpectFormatError(MixedFileWith("[6,0.02734375,-128]", "[6,0.02734375,0]"),
                    "gears[2] (int8): nodes[3] (concat): input tensor 5 (flat)");
  // The int4 gear is checked the same way (its own activations).
  const GearModelBuilder b = MixedGearModel();
  std::string j = b.ManifestJson();
  const size_t int4 = j.find("\"name\":\"int4\"");
  ASSERT_NE(int4, std::string::npos);
  const size_t at = j.find("[5,0.02734375,-128]", int4);
  ASSERT_NE(at, std::string::npos);
  j.replace(at, 19, "[5,0.02734375,-100]");
  ExpectFormatError(BuildGearFile(j, b.data(), 1, 1),
                    "gears[3] (int4): nodes[2] (reshape)");
}

// A conv/w constant of shape [1,KH,KW,C] in a depthwise conv takes axis 3.
TEST(GearReader11Test, DepthwiseWeightsArePerChannelOnAxis3) {
  for (int axis : {3, 0}) {
    GearModelBuilder b;
    const int x = b.AddInput("x", {-1, 3, 3, 2});
    const int w = b.AddConstTensor("dw/w", {1, 2, 2, 2});
    const int y = b.AddTensor("y", {-1, 2, 2, 2});
    b.AddNode("dw", "DEPTHWISE_CONV_2D", {x, w, -1}, {y},
              R"({"stride":[1,1],"dilation":[1,1],"padding":"VALID","depth_multiplier":1})");
    b.AddOutput(y);
    testing::QuantSpec q;
    q.axis = axis;
    q.scale = axis == 3 ? std::vector<float>{0.5f, 0.25f} : std::vector<float>{0.5f};
    const int s = b.AddI8Storage({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}, q);
    b.AddGear("int8", "q8", {{w, s}}, b.UniformActivations(0.125f, 0));
    if (axis == 3) {
      std::unique_ptr<GearFile> file;
      Status st = Load(b.Build(), &file);
      ASSERT_TRUE(st.ok()) << st.message();
    } else {
      ExpectFormatError(b.Build(), "per-channel quant on axis 3 as weights of nodes[0] (dw) (its "
                                   "quant.axis is 0)");
    }
  }
}

// ---- format 1.3 ops ---------------------------------------------------------------

// One valid case of every op added in 1.3 (shared with the fuzz seeds).
std::vector<OpCase> Ops13Cases() {
  return {
      {"TRANSPOSE_CONV", {-1, 3, 3, 2}, {{4, 3, 3, 2}, {4}}, false,
       R"({"stride":[2,2],"padding":"SAME","output_size":[6,6],"activation":"RELU"})",
       {-1, 6, 6, 4}},
      {"TRANSPOSE_CONV", {-1, 3, 3, 2}, {{4, 2, 2, 2}}, true,
       R"({"stride":[1,2],"padding":"VALID","output_size":[4,6]})", {-1, 4, 6, 4}},
      {"SUB", {-1, 2, 7}, {{7}}, false, R"({"activation":"RELU6"})", {-1, 2, 7}},
      {"DIV", {-1, 7}, {{1}}, false, "{}", {-1, 7}},
      {"MAXIMUM", {-1, 7}, {{1, 7}}, false, "{}", {-1, 7}},
      {"MINIMUM", {-1, 7}, {{1}}, false, "{}", {-1, 7}},
      {"LEAKY_RELU", {-1, 7}, {}, false, R"({"alpha":0.2})", {-1, 7}},
      {"PRELU", {-1, 4, 4, 3}, {{1, 1, 3}}, false, "{}", {-1, 4, 4, 3}},
      {"RESIZE_BILINEAR", {-1, 4, 4, 3}, {}, false,
       R"({"size":[8,6],"align_corners":false,"half_pixel_centers":true})", {-1, 8, 6, 3}},
      {"RESIZE_NEAREST_NEIGHBOR", {-1, 4, 4, 3}, {}, false,
       R"({"size":[2,2],"align_corners":true,"half_pixel_centers":false})", {-1, 2, 2, 3}},
      {"DEPTH_TO_SPACE", {-1, 2, 3, 8}, {}, false, R"({"block_size":2})", {-1, 4, 6, 2}},
      {"SPACE_TO_DEPTH", {-1, 4, 6, 2}, {}, false, R"({"block_size":2})", {-1, 2, 3, 8}},
      {"TRANSPOSE", {-1, 2, 3, 4}, {}, false, R"({"perm":[0,3,1,2]})", {-1, 4, 2, 3}},
      {"SLICE", {-1, 4, 5}, {}, false, R"({"begin":[1,0],"end":[4,5],"strides":[2,2]})",
       {-1, 2, 3}},
      {"GATHER", {-1, 3, 2}, {}, false, R"({"axis":1,"indices":[2,0,2]})", {-1, 3, 2}},
      {"QUANTIZE", {-1, 7}, {}, false, "{}", {-1, 7}},
      {"PAD", {-1, 2, 3}, {}, false, R"({"paddings":[[0,0],[1,0],[0,1]],"value":-1.5})",
       {-1, 3, 4}},
  };
}

TEST(GearReader13Test, EveryNewOpLoads) {
  const std::vector<OpCase> cases = Ops13Cases();
  for (const OpCase& c : cases) {
    SCOPED_TRACE(std::string(c.op) + " " + c.attrs);
    std::unique_ptr<GearFile> file;
    Status s = Load(BuildOpModel(c), &file);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(Load(BuildOpModel(cases[0]), &file).ok());
  const NodeDesc& tc = file->model().nodes[0];
  EXPECT_EQ(tc.op, OpType::kTransposeConv);
  EXPECT_EQ(tc.attrs.size_h, 6);
  EXPECT_EQ(tc.attrs.stride_w, 2);
  EXPECT_EQ(tc.attrs.padding, Padding::kSame);
  EXPECT_EQ(tc.attrs.activation, Activation::kRelu);
  ASSERT_TRUE(Load(BuildOpModel(cases[1]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].inputs[2], -1);  // the optional bias
  ASSERT_TRUE(Load(BuildOpModel(cases[6]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.alpha, 0.2f);
  ASSERT_TRUE(Load(BuildOpModel(cases[8]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.size_h, 8);
  EXPECT_TRUE(file->model().nodes[0].attrs.half_pixel_centers);
  EXPECT_FALSE(file->model().nodes[0].attrs.align_corners);
  ASSERT_TRUE(Load(BuildOpModel(cases[12]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.perm, (std::vector<int>{0, 3, 1, 2}));
  ASSERT_TRUE(Load(BuildOpModel(cases[13]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.begin, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(file->model().nodes[0].attrs.strides, (std::vector<int64_t>{2, 2}));
  ASSERT_TRUE(Load(BuildOpModel(cases[14]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.indices, (std::vector<int64_t>{2, 0, 2}));
  EXPECT_EQ(file->model().nodes[0].attrs.axis, 1);
  ASSERT_TRUE(Load(BuildOpModel(cases[16]), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.pad_value, -1.5);
  // PAD without `value` (1.0 files) fills with 0.
  ASSERT_TRUE(Load(SmallFile(), &file).ok());
  EXPECT_EQ(file->model().nodes[0].attrs.pad_value, 0.0);
}

TEST(GearReader13Test, BadAttrsAndShapes) {
  struct Bad {
    const char* op;
    std::vector<int64_t> x;
    std::vector<std::vector<int64_t>> consts;
    const char* attrs;
    const char* needle;
  };
  const std::vector<Bad> bad = {
      {"TRANSPOSE",
       {-1, 2, 3},
       {},
       R"({"perm":[1,0,2]})",
       "perm[0] must be 0 (the batch axis stays first)"},
      {"TRANSPOSE", {-1, 2, 3}, {}, R"({"perm":[0,1,1]})", "expected a permutation of 0..2"},
      {"TRANSPOSE", {-1, 2, 3}, {}, R"({"perm":[0,1,3]})", "expected a permutation of 0..2"},
      {"TRANSPOSE", {-1, 2, 3}, {}, R"({"perm":[0,1]})", "attrs.perm: expected array of 3"},
      {"TRANSPOSE", {-1, 2, 3}, {}, "{}", "missing required attribute \"perm\""},
      {"SLICE",
       {-1, 4, 5},
       {},
       R"({"begin":[0,0],"end":[5,5],"strides":[1,1]})",
       "slice [0, 5) of axis 1 is not inside [0, 4)"},
      {"SLICE",
       {-1, 4, 5},
       {},
       R"({"begin":[0,2],"end":[4,2],"strides":[1,1]})",
       "attrs.begin[1]: slice [2, 2) of axis 2"},
      {"SLICE",
       {-1, 4, 5},
       {},
       R"({"begin":[0,0],"end":[4,5],"strides":[1,0]})",
       "attrs.strides[1]: integer 0 out of range"},
      {"SLICE",
       {-1, 4, 5},
       {},
       R"({"begin":[0,0,0],"end":[4,5],"strides":[1,1]})",
       "attrs.begin: expected array of 2 integers"},
      {"SLICE",
       {-1, 4, 5},
       {},
       R"({"begin":[-1,0],"end":[4,5],"strides":[1,1]})",
       "attrs.begin[0]: integer -1 out of range"},
      {"GATHER",
       {-1, 3, 2},
       {},
       R"({"axis":1,"indices":[0,3]})",
       "attrs.indices[1]: integer 3 out of range [0, 2]"},
      {"GATHER", {-1, 3, 2}, {}, R"({"axis":1,"indices":[-1]})", "out of range [0, 2]"},
      {"GATHER", {-1, 3, 2}, {}, R"({"axis":0,"indices":[0]})", "attrs.axis: integer 0 out of"},
      {"GATHER", {-1, 3, 2}, {}, R"({"axis":3,"indices":[0]})", "axis 3 out of range [1, 3)"},
      {"GATHER", {-1, 3, 2}, {}, R"({"axis":1,"indices":[]})", "with 1.."},
      {"DEPTH_TO_SPACE",
       {-1, 2, 2, 8},
       {},
       R"({"block_size":3})",
       "input channels 8 are not a multiple of block_size^2"},
      {"DEPTH_TO_SPACE", {-1, 2, 2, 8}, {}, R"({"block_size":0})", "integer 0 out of range"},
      {"DEPTH_TO_SPACE", {-1, 2, 8}, {}, R"({"block_size":2})", "must have rank 4"},
      {"SPACE_TO_DEPTH",
       {-1, 4, 6, 1},
       {},
       R"({"block_size":4})",
       "block_size 4 does not divide the input's height and width"},
      {"RESIZE_BILINEAR",
       {-1, 4, 4, 3},
       {},
       R"({"size":[8,8],"align_corners":true,"half_pixel_centers":true})",
       "align_corners and half_pixel_centers cannot both be true"},
      {"RESIZE_BILINEAR",
       {-1, 4, 4, 3},
       {},
       R"({"size":[8,8],"half_pixel_centers":true})",
       "missing required attribute \"align_corners\""},
      {"RESIZE_NEAREST_NEIGHBOR",
       {-1, 4, 4, 3},
       {},
       R"({"size":[0,8],"align_corners":false,"half_pixel_centers":false})",
       "attrs.size[0]: integer 0 out of range"},
      {"RESIZE_NEAREST_NEIGHBOR",
       {-1, 4, 3},
       {},
       R"({"size":[2,2],"align_corners":false,"half_pixel_centers":false})",
       "must have rank 4"},
      {"TRANSPOSE_CONV",
       {-1, 3, 3, 2},
       {{4, 3, 3, 2}},
       R"({"stride":[1,1],"padding":"SAME"})",
       "missing required attribute \"output_size\""},
      {"TRANSPOSE_CONV",
       {-1, 3, 3, 2},
       {{4, 3, 3, 5}},
       R"({"stride":[1,1],"padding":"SAME","output_size":[3,3]})",
       "TRANSPOSE_CONV filter shape [4,3,3,5] has 5 input channels"},
      {"TRANSPOSE_CONV",
       {-1, 3, 3, 2},
       {{4, 3, 3, 2}, {3}},
       R"({"stride":[1,1],"padding":"SAME","output_size":[3,3]})",
       "bias shape [3] must be [4]"},
      {"TRANSPOSE_CONV",
       {-1, 3, 3, 2},
       {{4, 3, 3, 2}},
       R"({"stride":[1,1],"padding":"SAME","output_size":[3,3],"dilation":[1,1]})",
       "unknown attribute \"dilation\" for TRANSPOSE_CONV"},
      {"PRELU",
       {-1, 4, 4, 3},
       {{2}},
       "{}",
       "PRELU alpha shape [2] does not broadcast to the input [-1,4,4,3]"},
      {"PRELU", {-1, 3}, {{1, 1, 3}}, "{}", "PRELU alpha shape [1,1,3] does not broadcast"},
      {"LEAKY_RELU", {-1, 7}, {}, "{}", "missing required attribute \"alpha\""},
      {"LEAKY_RELU", {-1, 7}, {}, R"({"alpha":1e300})", "does not fit a float"},
      {"PAD", {-1, 2}, {}, R"({"paddings":[[0,0],[1,1]],"value":"x"})", "attrs.value"},
      {"MAXIMUM", {-1, 7}, {{7}}, R"({"activation":"RELU"})", "unknown attribute \"activation\""},
      {"RESIZE_BICUBIC", {-1, 4, 4, 3}, {}, "{}", "unknown op \"RESIZE_BICUBIC\""},
  };
  for (const Bad& c : bad) {
    SCOPED_TRACE(std::string(c.op) + " " + c.attrs);
    OpCase oc{c.op, c.x, c.consts, false, c.attrs, {-1, 1}};
    if (std::string(c.op) == "TRANSPOSE_CONV" && c.consts.size() == 1) oc.bias_absent = true;
    ExpectFormatError(BuildOpModel(oc), c.needle);
  }
  // PRELU's alpha must be a constant.
  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 3});
  const int a = b.AddInput("a", {-1, 3});
  const int y = b.AddTensor("y", {-1, 3});
  b.AddNode("prelu", "PRELU", {x, a}, {y});
  b.AddOutput(y);
  ExpectFormatError(b.Build(), "PRELU alpha (inputs[1]) must be a constant");
}

// int8 gears: TRANSPOSE_CONV weights per channel on axis 0 with an i32 bias,
// PRELU's alpha i8 per tensor, value-moving 1.3 ops keep their parameters.
TEST(GearReader13Test, Int8GearRules) {
  auto tconv = [](int axis) {
    GearModelBuilder b;
    const int x = b.AddInput("x", {-1, 2, 2, 2});
    const int w = b.AddConstTensor("w", {2, 2, 2, 2});
    const int bias = b.AddConstTensor("b", {2});
    const int y = b.AddTensor("y", {-1, 4, 4, 2});
    b.AddNode("tc", "TRANSPOSE_CONV", {x, w, bias}, {y},
              R"({"stride":[2,2],"padding":"VALID","output_size":[4,4]})");
    b.AddOutput(y);
    testing::QuantSpec q;
    q.axis = axis;
    q.scale = {0.5f, 0.25f};
    const int ws = b.AddI8Storage({2, 2, 2, 2}, std::vector<int8_t>(16, 3), q);
    testing::QuantSpec bq;
    bq.axis = 0;
    bq.scale = {0.5f, 0.25f};
    const int bs = b.AddI32Storage({2}, {1, 2}, bq);
    b.AddGear("int8", "q8", {{w, ws}, {bias, bs}}, b.UniformActivations(0.125f, 0));
    return b.Build();
  };
  std::unique_ptr<GearFile> file;
  Status st = Load(tconv(0), &file);
  ASSERT_TRUE(st.ok()) << st.message();
  ExpectFormatError(tconv(3),
                    "per-channel quant on axis 0 as weights of nodes[0] (tc) (its quant.axis is 3)");

  // PRELU alpha per channel is refused; per tensor loads.
  for (bool per_tensor : {true, false}) {
    GearModelBuilder b;
    const int x = b.AddInput("x", {-1, 2});
    const int a = b.AddConstTensor("alpha", {2});
    const int y = b.AddTensor("y", {-1, 2});
    b.AddNode("prelu", "PRELU", {x, a}, {y});
    b.AddOutput(y);
    testing::QuantSpec q;
    if (!per_tensor) q.axis = 0;
    q.scale = per_tensor ? std::vector<float>{0.5f} : std::vector<float>{0.5f, 0.5f};
    const int s = b.AddI8Storage({2}, {1, 2}, q);
    b.AddGear("int8", "q8", {{a, s}}, b.UniformActivations(0.125f, 0));
    if (per_tensor) {
      st = Load(b.Build(), &file);
      EXPECT_TRUE(st.ok()) << st.message();
    } else {
      ExpectFormatError(b.Build(), "i8 dense storage with per-tensor quant (axis null) as an "
                                   "operand of nodes[0] (prelu)");
    }
  }

  // Each value-moving 1.3 op refuses different input/output parameters;
  // SUB (which rescales) accepts them.
  struct Mover {
    const char* op;
    std::vector<int64_t> x, y;
    const char* attrs;
  };
  const std::vector<Mover> movers = {
      {"RESIZE_BILINEAR", {-1, 2, 2, 1}, {-1, 4, 4, 1},
       R"({"size":[4,4],"align_corners":false,"half_pixel_centers":false})"},
      {"RESIZE_NEAREST_NEIGHBOR", {-1, 2, 2, 1}, {-1, 4, 4, 1},
       R"({"size":[4,4],"align_corners":false,"half_pixel_centers":false})"},
      {"DEPTH_TO_SPACE", {-1, 1, 1, 4}, {-1, 2, 2, 1}, R"({"block_size":2})"},
      {"SPACE_TO_DEPTH", {-1, 2, 2, 1}, {-1, 1, 1, 4}, R"({"block_size":2})"},
      {"TRANSPOSE", {-1, 2, 3}, {-1, 3, 2}, R"({"perm":[0,2,1]})"},
      {"SLICE", {-1, 4}, {-1, 2}, R"({"begin":[1],"end":[3],"strides":[1]})"},
      {"GATHER", {-1, 4}, {-1, 1}, R"({"axis":1,"indices":[3]})"},
      {"MAXIMUM", {-1, 4}, {-1, 4}, "{}"},
      {"MINIMUM", {-1, 4}, {-1, 4}, "{}"},
      {"SUB", {-1, 4}, {-1, 4}, "{}"},
  };
  for (const Mover& m : movers) {
    SCOPED_TRACE(m.op);
    GearModelBuilder b;
    const int x = b.AddInput("x", m.x);
    const int y = b.AddTensor("y", m.y);
    const std::string op = m.op;
    const bool binary = op == "MAXIMUM" || op == "MINIMUM" || op == "SUB";
    b.AddNode("n", m.op, binary ? std::vector<int>{x, x} : std::vector<int>{x}, {y}, m.attrs);
    b.AddOutput(y);
    b.AddGear("int8", "q8", {}, {{x, 0.5f, 0}, {y, 0.5f, 1}});
    if (op == "SUB") {
      st = Load(b.Build(), &file);
      EXPECT_TRUE(st.ok()) << st.message();
    } else {
      ExpectFormatError(b.Build(), op + " moves values without rescaling, so they must be equal");
    }
  }
}

// Seeds for tests/cpp/fuzz_gear_reader.cc: with GEARSHIFT_FUZZ_CORPUS=<dir>
// set, writes the valid files of these tests there; otherwise does nothing.
TEST(GearReaderTest, WritesFuzzSeedCorpusWhenAsked) {
  const char* dir = std::getenv("GEARSHIFT_FUZZ_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "GEARSHIFT_FUZZ_CORPUS not set";
  // The 1.1 model gives the fuzzer every dtype, encoding and compute token.
  std::vector<std::vector<uint8_t>> files = {SmallFile(), MixedFile()};
  const std::vector<OpCase> cases = {
      {"CONV_2D", {-1, 5, 5, 2}, {{4, 3, 3, 2}, {4}}, false,
       R"({"stride":[2,1],"dilation":[1,2],"padding":"SAME","activation":"RELU6"})", {-1, 3, 5, 4}},
      {"DEPTHWISE_CONV_2D", {-1, 5, 5, 2}, {{1, 3, 3, 6}}, true,
       R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":3})", {-1, 5, 5, 6}},
      {"MAX_POOL_2D", {-1, 4, 4, 3}, {}, false,
       R"({"filter":[2,2],"stride":[2,2],"padding":"VALID"})", {-1, 2, 2, 3}},
      {"MEAN", {-1, 4, 4, 3}, {}, false, R"({"axes":[1,2],"keep_dims":true})", {-1, 1, 1, 3}},
      {"SOFTMAX", {-1, 7}, {}, false, R"({"beta":0.5})", {-1, 7}},
      {"CONCATENATION", {-1, 2, 3}, {{1, 2, 3}}, false, R"({"axis":2})", {-1, 2, 6}},
      {"PAD", {-1, 2, 3}, {}, false, R"({"paddings":[[0,0],[1,2],[0,3]]})", {-1, 5, 6}},
  };
  for (const OpCase& c : cases) files.push_back(BuildOpModel(c));
  for (const OpCase& c : Ops13Cases()) files.push_back(BuildOpModel(c));  // format 1.3
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = std::string(dir) + "/seed_" + std::to_string(i) + ".gear";
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(files[i].data()),
              static_cast<std::streamsize>(files[i].size()));
    ASSERT_TRUE(out.good()) << path;
  }
  // Format 1.6: the mixed model with binary scales and activation records in a
  // PARAMS section, so that mutations reach the params references' checks.
  const std::vector<uint8_t> binary = MixedBinary().Build();
  const std::string path = std::string(dir) + "/seed_params_0.gear";
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(binary.data()),
            static_cast<std::streamsize>(binary.size()));
  ASSERT_TRUE(out.good()) << path;
}

}  // namespace
}  // namespace gearshift
