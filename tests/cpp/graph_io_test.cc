// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Integer graph inputs/outputs (format 1.4 `io`): the reader accepts an io
// only on graph inputs/outputs with a known dtype and parameters in range,
// the runtime reports it in TensorInfo, RunIo of a float gear dequantizes /
// quantizes with it, and the int8-gear conversions (plan/graph_io.h) are a
// copy, a flip or a requantization exactly as specified.
#include "plan/graph_io.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/model_desc.h"
#include "gear_builder.h"
#include "gearshift/gearshift.h"
#include "ops_q8/q8_common.h"
#include "runtime_impl.h"

namespace gearshift {
namespace {

using testing::AppendF32;
using testing::BuildGearFile;

// x [-1, 4] -> FULLY_CONNECTED (w [3, 4], bias) -> y [-1, 3], fp32 only;
// X_IO / Y_IO are replaced by each test.
std::vector<uint8_t> Model(const std::string& x_io, const std::string& y_io,
                           const std::string& h_io = "") {
  std::vector<uint8_t> data;
  std::vector<float> w(12);
  for (int i = 0; i < 12; ++i) w[i] = 0.25f * static_cast<float>(i % 5) - 0.5f;
  const uint64_t w_off = AppendF32(&data, w);
  const uint64_t b_off = AppendF32(&data, {0.5f, -0.25f, 0.0f});
  std::string m = R"({
  "tensors": [
    {"name": "x", "shape": [-1, 4], "dtype": "f32" X_IO},
    {"name": "w", "shape": [3, 4], "dtype": "f32", "const": true},
    {"name": "b", "shape": [3], "dtype": "f32", "const": true},
    {"name": "h", "shape": [-1, 3], "dtype": "f32" H_IO},
    {"name": "y", "shape": [-1, 3], "dtype": "f32" Y_IO}
  ],
  "inputs": [0], "outputs": [4],
  "nodes": [
    {"name": "fc", "op": "FULLY_CONNECTED", "inputs": [0, 1, 2], "outputs": [3], "attrs": {}},
    {"name": "relu", "op": "RELU", "inputs": [3], "outputs": [4]}
  ],
  "storage": [
    {"section": 1, "offset": W_OFF, "length": 48, "dtype": "f32", "shape": [3, 4], "encoding": "dense"},
    {"section": 1, "offset": B_OFF, "length": 12, "dtype": "f32", "shape": [3], "encoding": "dense"}
  ],
  "gears": [{"name": "fp32", "compute": "f32", "constants": [[1, 0], [2, 1]]}]
})";
  auto put = [&m](const std::string& key, const std::string& value) {
    m.replace(m.find(key), key.size(), value);
  };
  put("X_IO", x_io);
  put("Y_IO", y_io);
  put("H_IO", h_io);
  put("W_OFF", std::to_string(w_off));
  put("B_OFF", std::to_string(b_off));
  return BuildGearFile(m, data, 1, 4);
}

const char* kU8 = R"(, "io": {"dtype": "u8", "scale": 0.5, "zero_point": 128})";
const char* kI8 = R"(, "io": {"dtype": "i8", "scale": 0.0625, "zero_point": -3})";

Status Load(const std::vector<uint8_t>& bytes, std::unique_ptr<GearFile>* out) {
  return GearFile::FromBuffer(bytes.data(), bytes.size(), {}, out);
}

void ExpectRefused(const std::vector<uint8_t>& bytes, const std::string& needle) {
  std::unique_ptr<GearFile> file;
  const Status s = Load(bytes, &file);
  ASSERT_FALSE(s.ok()) << "expected a refusal containing " << needle;
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(GraphIoTest, ReaderParsesIo) {
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(Load(Model(kU8, kI8), &file).ok());
  const ModelDesc& m = file->model();
  EXPECT_EQ(m.tensors[0].io.dtype, DType::kU8);
  EXPECT_EQ(m.tensors[0].io.scale, 0.5f);
  EXPECT_EQ(m.tensors[0].io.zero_point, 128);
  EXPECT_EQ(m.tensors[4].io.dtype, DType::kI8);
  EXPECT_EQ(m.tensors[4].io.zero_point, -3);
  EXPECT_EQ(m.tensors[3].io.dtype, DType::kF32);  // absent
}

TEST(GraphIoTest, ReaderRefusesHostileIo) {
  ExpectRefused(Model("", "", kI8), "only those carry \"io\"");  // an intermediate tensor
  ExpectRefused(Model(R"(, "io": {"dtype": "i16", "scale": 1, "zero_point": 0})", ""),
                "expected \"i8\" or \"u8\"");
  ExpectRefused(Model(R"(, "io": {"dtype": "u8", "scale": 1, "zero_point": 256})", ""),
                "zero_point");
  ExpectRefused(Model(R"(, "io": {"dtype": "u8", "scale": 1, "zero_point": -1})", ""),
                "zero_point");
  ExpectRefused(Model(R"(, "io": {"dtype": "i8", "scale": 1, "zero_point": 128})", ""),
                "zero_point");
  ExpectRefused(Model(R"(, "io": {"dtype": "i8", "scale": 0, "zero_point": 0})", ""), "scale");
  ExpectRefused(Model(R"(, "io": {"dtype": "i8", "scale": 0.1, "zero_point": 0})", ""),
                "float32 value");
  ExpectRefused(Model(R"(, "io": {"dtype": "i8", "zero_point": 0})", ""), "scale");
  ExpectRefused(Model(R"(, "io": [1, 2])", ""), "io");
}

TEST(GraphIoTest, FloatGearRunIoDequantizesAndQuantizes) {
  std::unique_ptr<GearFile> file;
  ASSERT_TRUE(Load(Model(kU8, kI8), &file).ok());
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(CreateRuntime(std::move(file), {}, &rt).ok());
  ASSERT_EQ(rt->inputs()[0].dtype, DType::kU8);
  EXPECT_EQ(rt->inputs()[0].zero_point, 128);
  ASSERT_EQ(rt->outputs()[0].dtype, DType::kI8);
  EXPECT_EQ(rt->outputs()[0].scale, 0.0625f);
  ASSERT_TRUE(rt->Prepare({{2, 4}}).ok());
  const std::vector<uint8_t> q = {0, 128, 255, 130, 7, 200, 129, 64};
  std::vector<float> x(8);
  for (size_t i = 0; i < q.size(); ++i) x[i] = 0.5f * (static_cast<int>(q[i]) - 128);
  std::vector<float> y(6);
  std::vector<int8_t> yq(6);
  const void* in_f[] = {x.data()};
  void* out_f[] = {y.data()};
  ASSERT_TRUE(rt->Run(in_f, out_f).ok());
  const void* in_q[] = {q.data()};
  void* out_q[] = {yq.data()};
  ASSERT_TRUE(rt->RunIo(in_q, out_q).ok());
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_EQ(yq[i], QuantizeQ8(y[i], ActQuant{0.0625f, -3})) << i;
  }
}

TEST(GraphIoTest, Int8GearConversions) {
  IoDesc u8{DType::kU8, 0.5f, 130};
  IoConv flip = MakeIoConv(u8, ActQuant{0.5f, 2});
  EXPECT_EQ(flip.kind, IoConv::Kind::kFlip);
  const std::vector<uint8_t> src = {0, 127, 128, 255, 130};
  std::vector<int8_t> q(src.size());
  IoToQ8(flip, src.data(), q.data(), static_cast<int64_t>(src.size()));
  EXPECT_EQ(q, (std::vector<int8_t>{-128, -1, 0, 127, 2}));
  std::vector<uint8_t> back(src.size());
  Q8ToIo(flip, q.data(), back.data(), static_cast<int64_t>(q.size()));
  EXPECT_EQ(back, src);

  IoDesc i8{DType::kI8, 0.25f, -5};
  EXPECT_EQ(MakeIoConv(i8, ActQuant{0.25f, -5}).kind, IoConv::Kind::kCopy);
  EXPECT_EQ(MakeIoConv(IoDesc{}, ActQuant{0.25f, -5}).kind, IoConv::Kind::kFloat);
  // other parameters: through the real value, both ways
  const ActQuant gear{0.1f, 7};
  IoConv rq = MakeIoConv(u8, gear);
  ASSERT_EQ(rq.kind, IoConv::Kind::kRequant);
  IoToQ8(rq, src.data(), q.data(), static_cast<int64_t>(src.size()));
  for (size_t i = 0; i < src.size(); ++i) {
    const float real = static_cast<float>(0.5 * (static_cast<int>(src[i]) - 130));
    EXPECT_EQ(q[i], QuantizeQ8(real, gear)) << i;
  }
  Q8ToIo(rq, q.data(), back.data(), static_cast<int64_t>(q.size()));
  for (size_t i = 0; i < q.size(); ++i) {
    const float real = DequantizeQ8(q[i], gear);
    const int want = QuantizeQ8(real, ActQuant{0.5f, 2}) + 128;
    EXPECT_EQ(back[i], want) << i;
  }
}

}  // namespace
}  // namespace gearshift
