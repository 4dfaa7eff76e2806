// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// Format 1.2 sparse weights in the C++ runtime: the reader's checks of
// bitmap / csr / 2:4 entries (every corruption refused with the entry
// named), the derivations (a sparse file prepares to the same values as its
// dense twin), the sparse reference kernels against the dense ones (int8
// bit-exact, f32 within the dot-product tolerance) on random weights with
// 0/50/90% zeros and 2:4 patterns, and whole plans of `sparse` gears.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/model_desc.h"
#include "format/sparse_codec.h"
#include "gear_builder.h"
#include "ops/conv.h"
#include "ops/fully_connected.h"
#include "ops/sparse_conv.h"
#include "ops_q8/q8_conv.h"
#include "ops_q8/q8_sparse.h"
#include "plan/plan.h"
#include "prepare/gear_weights.h"
#include "thread_pool.h"
#include "tolerances.h"

namespace gearshift {
namespace {

using testing::EncodeSparse;
using testing::GearModelBuilder;
using testing::QuantSpec;

// Random symmetric int8 weights with a fraction `zeros` of zeros, or (two_four)
// at most two non-zeros per group of four.
std::vector<int8_t> RandomWeights(std::mt19937* rng, int64_t n, double zeros, bool two_four) {
  std::uniform_int_distribution<int> v(1, 127), sign(0, 1), pos(0, 3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int8_t> q(static_cast<size_t>(n));
  for (auto& x : q) {
    x = u(*rng) < zeros ? 0 : static_cast<int8_t>(sign(*rng) ? v(*rng) : -v(*rng));
  }
  if (two_four) {
    for (int64_t g = 0; g < n / 4; ++g) {
      const int keep0 = pos(*rng), keep1 = (keep0 + 1 + pos(*rng) % 3) % 4;
      for (int i = 0; i < 4; ++i) {
        if (i != keep0 && i != keep1) q[static_cast<size_t>(g * 4 + i)] = 0;
      }
    }
  }
  return q;
}

QuantSpec PerChannel(int64_t c, int axis = 0) {
  QuantSpec q;
  q.axis = axis;
  for (int64_t i = 0; i < c; ++i) q.scale.push_back(0.0078125f * static_cast<float>(1 + i % 5));
  return q;
}

// x [-1, 8] -> FULLY_CONNECTED w [4, 8] -> y; gears int8 (dense), int8-sparse
// (`encoding`), fp32 (q8r4 over the dense base), fp32-sparse (q8r4 over the
// sparse base), int4 (q4m over the sparse base).
struct FcFile {
  std::vector<int8_t> q;
  std::string manifest;
  std::vector<uint8_t> data;
  std::vector<uint8_t> bytes;
};

FcFile MakeFcFile(const std::string& encoding, const std::vector<int8_t>& q) {
  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 8});
  const int w = b.AddConstTensor("w", {4, 8});
  const int y = b.AddTensor("y", {-1, 4});
  b.AddNode("fc", "FULLY_CONNECTED", {x, w, -1}, {y}, "{}");
  b.AddOutput(y);
  const QuantSpec wq = PerChannel(4);
  const int dense = b.AddI8Storage({4, 8}, q, wq);
  const testing::SparsePayload sp = EncodeSparse(q, 4, encoding);
  const int sparse = b.AddSparseI8Storage(encoding, {4, 8}, sp.bytes, sp.nnz, wq);
  std::vector<int> r_dense(32), r_sparse;
  for (int i = 0; i < 32; ++i) r_dense[i] = (i * 5) % 16 - 8;
  for (int i = 0; i < 32; ++i) {  // a pruned weight has no residual (the writer's: w = 0)
    if (q[static_cast<size_t>(i)] == 0) r_dense[static_cast<size_t>(i)] = 0;
  }
  // One residual per stored slot, the same as the dense one at that element.
  StorageDesc probe;
  probe.encoding = encoding == "bitmap" ? Encoding::kBitmap
                   : encoding == "csr"  ? Encoding::kCsr
                                        : Encoding::kTwoFour;
  probe.shape = {4, 8};
  probe.quant.axis = 0;
  probe.nnz = sp.nnz;
  probe.data = sp.bytes.data();
  probe.length = sp.bytes.size();
  ForEachSparseSlot(probe, [&](int64_t, int64_t index, int8_t) {
    r_sparse.push_back(r_dense[static_cast<size_t>(index)]);
  });
  const int r1 = b.AddQ8R4Storage({4, 8}, dense, r_dense);
  const int r2 = b.AddQ8R4Storage({4, 8}, sparse, r_sparse);
  const int q4 = b.AddQ4MStorage({4, 8}, sparse, 4);
  const int q4d = b.AddQ4MStorage({4, 8}, dense, 4);
  const std::vector<testing::ActSpec> acts = {{x, 0.03125f, -3}, {y, 0.0625f, 2}};
  b.AddGear("fp32", "f32", {{w, r1}});
  b.AddGear("fp32-sparse", "f32", {{w, r2}}, {}, true);
  b.AddGear("int8", "q8", {{w, dense}}, acts);
  b.AddGear("int8-sparse", "q8", {{w, sparse}}, acts, true);
  b.AddGear("int8-densified", "q8", {{w, sparse}}, acts);
  b.AddGear("int4", "q4", {{w, q4d}}, acts);
  b.AddGear("int4-sparse", "q4", {{w, q4}}, acts, true);
  b.AddGear("fp32-densified", "f32", {{w, r2}});
  FcFile f;
  f.q = q;
  f.manifest = b.ManifestJson();
  f.data = b.data();
  f.bytes = b.Build();
  return f;
}

Status Load(const std::string& manifest, const std::vector<uint8_t>& data,
            std::unique_ptr<GearFile>* out) {
  const std::vector<uint8_t> bytes = testing::BuildGearFile(manifest, data, 1, 2);
  return GearFile::FromBuffer(bytes.data(), bytes.size(), GearFile::Options(), out);
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// Expects `manifest`/`data` to be refused with every piece of `want` in the message.
void ExpectRefused(const std::string& manifest, const std::vector<uint8_t>& data,
                   const std::vector<std::string>& want) {
  std::unique_ptr<GearFile> file;
  const Status s = Load(manifest, data, &file);
  ASSERT_FALSE(s.ok()) << "accepted; expected: " << want[0];
  for (const std::string& w : want) EXPECT_NE(s.message().find(w), std::string::npos) << s.message();
}

const std::vector<int8_t> kQ = {5, 0, 0, -7, 0, 0, 9, 0,  0,  0,  0,   0,  0, 0, 0, 0,
                                0, 3, 1, 0,  0, 4, 0, 0,  11, 0,  0,   0,  0, 0, 0, 127};

TEST(SparseReaderTest, AcceptsEveryEncodingAndTheSparseFlag) {
  for (const char* enc : {"bitmap", "csr", "2:4"}) {
    const FcFile f = MakeFcFile(enc, kQ);
    std::unique_ptr<GearFile> file;
    ASSERT_TRUE(GearFile::FromBuffer(f.bytes.data(), f.bytes.size(), GearFile::Options(), &file)
                    .ok())
        << enc;
    const ModelDesc& m = file->model();
    EXPECT_EQ(m.version_minor, 2);
    EXPECT_EQ(m.storage[1].nnz, 8) << enc;
    EXPECT_TRUE(m.gears[1].sparse);
    EXPECT_FALSE(m.gears[2].sparse);
  }
}

// Offset (in the data section) of storage entry 1, the sparse one.
uint64_t SparseOffset(const FcFile& f) {
  const std::string key = "\"section\":1,\"offset\":";
  size_t at = f.manifest.find(key);
  at = f.manifest.find(key, at + 1);
  return std::stoull(f.manifest.substr(at + key.size()));
}

TEST(SparseReaderTest, RefusesCorruptBitmaps) {
  const FcFile f = MakeFcFile("bitmap", kQ);
  const uint64_t off = SparseOffset(f);
  ExpectRefused(Replace(f.manifest, "\"nnz\":8", "\"nnz\":7"), f.data,
                {"storage[1]", "length"});
  std::vector<uint8_t> d = f.data;
  d[off] ^= 0x02;  // one more presence bit: popcount 9, nnz 8
  ExpectRefused(f.manifest, d, {"storage[1]", "bitmap: 9 presence bits set, nnz says 8"});
  d = f.data;
  d[off + 4] = 0;  // first stored value
  ExpectRefused(f.manifest, d, {"storage[1]", "stored value is 0"});
  d = f.data;
  d[off + 4] = 0x80;  // -128 in a symmetric weight
  ExpectRefused(f.manifest, d, {"storage[1]", "-128"});
  ExpectRefused(Replace(f.manifest, "\"nnz\":8", "\"nnz\":33"), f.data, {"storage[1]", "nnz"});
  ExpectRefused(Replace(f.manifest, "\"nnz\":8", "\"nnz\":-1"), f.data, {"storage[1]", "nnz"});
  // nnz on a dense entry, no nnz on a sparse one.
  ExpectRefused(Replace(f.manifest, "\"encoding\":\"dense\"", "\"encoding\":\"dense\",\"nnz\":3"),
                f.data, {"storage[0].nnz"});
  ExpectRefused(Replace(f.manifest, ",\"nnz\":8", ""), f.data, {"storage[1]", "nnz"});
  // Per-tensor quant cannot hold rows.
  ExpectRefused(Replace(f.manifest, "\"encoding\":\"bitmap\",\"nnz\":8,\"quant\":{\"axis\":0",
                        "\"encoding\":\"bitmap\",\"nnz\":8,\"quant\":{\"axis\":null"),
                f.data, {"storage[1]"});
}

TEST(SparseReaderTest, RefusesCorruptCsr) {
  const FcFile f = MakeFcFile("csr", kQ);
  const uint64_t off = SparseOffset(f);
  // ptr = [0, 3, 3, 6, 8]; indices u16 from byte 20; values from byte 36.
  std::vector<uint8_t> d = f.data;
  d[off + 4] = 4;  // ptr[1] = 4 > ptr[2] = 3
  ExpectRefused(f.manifest, d, {"storage[1]", "csr: row offsets decrease at row 1"});
  d = f.data;
  d[off] = 1;  // ptr[0] = 1
  ExpectRefused(f.manifest, d, {"storage[1]", "ptr[0] must be 0"});
  d = f.data;
  d[off + 16] = 7;  // ptr[4] = 7 != nnz 8
  ExpectRefused(f.manifest, d, {"storage[1]", "ptr[4] must equal nnz 8"});
  d = f.data;
  d[off + 20] = 6;  // row 0's indices 6, 3, 6: not increasing
  ExpectRefused(f.manifest, d, {"storage[1]", "column indices of row 0 are not strictly"});
  d = f.data;
  d[off + 20 + 4] = 8;  // row 0's last index 8 >= K
  ExpectRefused(f.manifest, d, {"storage[1]", "column index 8 not below K = 8"});
  d = f.data;
  d[off + 36] = 0;
  ExpectRefused(f.manifest, d, {"storage[1]", "stored value is 0"});
  ExpectRefused(Replace(f.manifest, "\"nnz\":8", "\"nnz\":9"), f.data, {"storage[1].length"});
}

TEST(SparseReaderTest, RefusesCorruptTwoFour) {
  const FcFile f = MakeFcFile("2:4", kQ);
  const uint64_t off = SparseOffset(f);
  // 8 groups: 16 value bytes, then 4 position bytes.
  std::vector<uint8_t> d = f.data;
  d[off + 16] = static_cast<uint8_t>((d[off + 16] & 0xF0) | (3 | 1 << 2));  // positions 3, 1
  ExpectRefused(f.manifest, d, {"storage[1]", "2:4: group 0's positions 3, 1 are not increasing"});
  d = f.data;
  d[off + 2] = 1;  // a slot that held 0 now holds 1: 9 non-zeros, nnz 8
  ExpectRefused(f.manifest, d, {"storage[1]", "2:4: 9 non-zero stored values, nnz says 8"});
  ExpectRefused(Replace(f.manifest, "\"nnz\":8", "\"nnz\":17"), f.data, {"storage[1].nnz"});
}

TEST(SparseReaderTest, RefusesTwoFourOffConvAndDenseWeights) {
  // A depthwise filter [1, 1, 1, 8]: its channel axis is 3, so 2:4 cannot apply.
  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 2, 2, 8});
  const int w = b.AddConstTensor("dw/w", {1, 1, 1, 8});
  const int y = b.AddTensor("y", {-1, 2, 2, 8});
  b.AddNode("dw", "DEPTHWISE_CONV_2D", {x, w, -1}, {y},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1})");
  b.AddOutput(y);
  const std::vector<int8_t> q = {1, 0, 0, 2, 0, 3, 4, 0};
  const testing::SparsePayload sp = EncodeSparse(q, 1, "2:4");
  const int s = b.AddSparseI8Storage("2:4", {1, 1, 1, 8}, sp.bytes, sp.nnz, PerChannel(8, 3));
  b.AddGear("int8", "q8", {{w, s}}, {{x, 0.5f, 0}, {y, 0.5f, 0}});
  ExpectRefused(b.ManifestJson(), b.data(), {"storage[0].encoding", "2:4"});
  // With axis 0 the entry itself is fine, but a depthwise node reads it (through q8r4).
  GearModelBuilder c;
  const int x2 = c.AddInput("x", {-1, 2, 2, 8});
  const int w2 = c.AddConstTensor("dw/w", {1, 1, 1, 8});
  const int y2 = c.AddTensor("y", {-1, 2, 2, 8});
  c.AddNode("dw", "DEPTHWISE_CONV_2D", {x2, w2, -1}, {y2},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1})");
  c.AddOutput(y2);
  const int s2 = c.AddSparseI8Storage("2:4", {1, 1, 1, 8}, sp.bytes, sp.nnz, PerChannel(1, 0));
  const int r = c.AddQ8R4Storage({1, 1, 1, 8}, s2, {0, 0, 0, 0});
  c.AddGear("fp32", "f32", {{w2, r}});
  ExpectRefused(c.ManifestJson(), c.data(),
                {"storage[0].encoding", "DEPTHWISE_CONV_2D", "dw/w"});
}

TEST(SparseReaderTest, RefusesAQ8R4ResidualOfTheWrongLength) {
  const FcFile f = MakeFcFile("bitmap", kQ);
  // storage[3] is the q8r4 over the sparse base: ceil(8 / 2) = 4 bytes.
  const std::string m = f.manifest;
  const std::string key = "\"length\":4,\"dtype\":\"f32\"";
  ASSERT_NE(m.find(key), std::string::npos);
  ExpectRefused(Replace(m, key, "\"length\":3,\"dtype\":\"f32\""), f.data,
                {"storage[3].length", "needs 4", "bitmap, 8 slots"});
}

// ---- derivations ------------------------------------------------------------------

std::vector<float> DenseValues(const ConstView& v, int64_t n, bool int8) {
  std::vector<float> out(static_cast<size_t>(n), 0.0f);
  if (v.sparse != nullptr) {
    const SparseMatrix& m = *v.sparse;
    for (int64_t r = 0; r < m.rows; ++r) {
      for (int64_t j = m.row_ptr[r]; j < m.row_ptr[r + 1]; ++j) {
        out[static_cast<size_t>(r * m.cols + m.col[j])] =
            int8 ? static_cast<float>(m.i8[j]) : m.f32[j];
      }
    }
    return out;
  }
  if (v.q4 != nullptr) {  // an int4 gear's weight over a sparse base
    std::vector<int8_t> q(static_cast<size_t>(n));
    v.q4->Expand(q.data());
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(q[i]);
    return out;
  }
  if (v.q8r4 != nullptr) {  // an fp32 gear's q8r4 weight over a sparse base, undecoded
    v.q8r4->Decode(out.data());
    return out;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = int8 ? static_cast<float>(v.i8[i]) : v.f32[i];
  return out;
}

TEST(SparseWeightsTest, SparseFilesPrepareToTheDenseValues) {
  std::mt19937 rng(7);
  for (const char* enc : {"bitmap", "csr", "2:4"}) {
    for (double zeros : {0.0, 0.5, 0.9}) {
      const bool tf = std::string(enc) == "2:4";
      const FcFile f = MakeFcFile(enc, RandomWeights(&rng, 32, zeros, tf));
      std::unique_ptr<GearFile> file;
      ASSERT_TRUE(
          GearFile::FromBuffer(f.bytes.data(), f.bytes.size(), GearFile::Options(), &file).ok());
      const ModelDesc& m = file->model();
      std::vector<std::vector<float>> v(m.gears.size());
      for (size_t g = 0; g < m.gears.size(); ++g) {
        std::shared_ptr<const GearWeights> w;
        ASSERT_TRUE(PrepareGearWeights(m, static_cast<int>(g), &w).ok()) << m.gears[g].name;
        const bool int8 = m.gears[g].arith == Compute::kQ8 || m.gears[g].arith == Compute::kQ4;
        EXPECT_EQ(w->at(1).sparse != nullptr, m.gears[g].sparse) << m.gears[g].name;
        v[g] = DenseValues(w->at(1), 32, int8);
      }
      // fp32 == fp32-sparse == fp32-densified; int8 == int8-sparse == densified; int4 pair.
      EXPECT_EQ(v[0], v[1]) << enc << " " << zeros;
      EXPECT_EQ(v[0], v[7]);
      EXPECT_EQ(v[2], v[3]);
      EXPECT_EQ(v[2], v[4]);
      EXPECT_EQ(v[5], v[6]);
      for (int i = 0; i < 32; ++i) {
        EXPECT_EQ(v[2][i], static_cast<float>(f.q[i]));
        if (f.q[i] == 0) EXPECT_EQ(v[1][i], 0.0f);  // a pruned weight stays exactly 0
      }
    }
  }
}

// ---- kernels ----------------------------------------------------------------------

struct ConvCase {
  int64_t h, w, c, o;
  int kh, kw, sh, sw, dh, dw;
  int64_t pad_top, pad_left, oh, ow;
};

Conv2DParams ConvParams(const ConvCase& k) {
  Conv2DParams p;
  p.batch = 2;
  p.in_h = k.h;
  p.in_w = k.w;
  p.in_c = k.c;
  p.out_c = k.o;
  p.kernel_h = k.kh;
  p.kernel_w = k.kw;
  p.stride_h = k.sh;
  p.stride_w = k.sw;
  p.dilation_h = k.dh;
  p.dilation_w = k.dw;
  p.pad_top = k.pad_top;
  p.pad_left = k.pad_left;
  p.out_h = k.oh;
  p.out_w = k.ow;
  return p;
}

TEST(SparseKernelsTest, MatchTheDenseKernels) {
  std::mt19937 rng(11);
  const ConvCase cases[] = {
      {5, 6, 8, 12, 1, 1, 1, 1, 1, 1, 0, 0, 5, 6},  // 1x1
      {7, 7, 4, 6, 3, 3, 2, 2, 1, 1, 1, 1, 4, 4},   // 3x3 stride 2 SAME
      {9, 8, 8, 5, 3, 2, 1, 2, 2, 1, 2, 0, 9, 4},   // dilated, asymmetric, padded
  };
  for (double zeros : {0.0, 0.5, 0.9, -1.0}) {  // -1: a 2:4 pattern
    const bool tf = zeros < 0;
    for (const ConvCase& k : cases) {
      const Conv2DParams p = ConvParams(k);
      const int64_t kdim = int64_t{k.kh} * k.kw * k.c;
      const std::vector<int8_t> q = RandomWeights(&rng, k.o * kdim, tf ? 0.0 : zeros, tf);
      const int64_t xn = p.batch * k.h * k.w * k.c, yn = p.batch * k.oh * k.ow * k.o;
      std::uniform_int_distribution<int> xi(-128, 127), bi(-5000, 5000);
      std::vector<int8_t> x(static_cast<size_t>(xn));
      for (auto& v : x) v = static_cast<int8_t>(xi(rng));
      std::vector<int32_t> bias(static_cast<size_t>(k.o));
      for (auto& v : bias) v = bi(rng);
      std::vector<float> ws(static_cast<size_t>(k.o), 0.01f);
      Q8ChannelRequant rq;
      MakeQ8ChannelRequant({0.05f, -7}, ws, {0.1f, 3}, k.o, Activation::kRelu, &rq);
      SparseMatrix sm;
      BuildSparseMatrix(q.data(), k.o, kdim, &sm);
      std::vector<int8_t> y_ref(static_cast<size_t>(yn)), y_sp(static_cast<size_t>(yn));
      q8_conv2d__ref(p, rq, x.data(), q.data(), bias.data(), y_ref.data(), nullptr);
      q8_conv2d__sparse(p, rq, sm, x.data(), bias.data(), y_sp.data(), nullptr);
      EXPECT_EQ(y_ref, y_sp) << "conv kh " << k.kh << " zeros " << zeros;

      // f32 on the same pattern.
      std::vector<float> wf(q.size()), xf(x.size()), bf(bias.size());
      for (size_t i = 0; i < q.size(); ++i) wf[i] = static_cast<float>(q[i]) / 64.0f;
      for (size_t i = 0; i < x.size(); ++i) xf[i] = static_cast<float>(x[i]) / 32.0f;
      for (size_t i = 0; i < bias.size(); ++i) bf[i] = static_cast<float>(bias[i]) / 1024.0f;
      SparseMatrix smf;
      BuildSparseMatrix(wf.data(), k.o, kdim, &smf);
      Conv2DParams pf = p;
      std::vector<float> f_ref(static_cast<size_t>(yn)), f_sp(static_cast<size_t>(yn));
      f32_conv2d__ref(pf, xf.data(), wf.data(), bf.data(), f_ref.data(), nullptr);
      f32_conv2d__sparse(pf, smf, xf.data(), bf.data(), f_sp.data(), nullptr);
      for (int64_t i = 0; i < yn; ++i) {
        EXPECT_NEAR(f_ref[i], f_sp[i], testing::F32DotTolerance(kdim, 8.0 * kdim + 8.0));
      }

      // The same weights as a dense layer [O, KH*KW*C].
      FullyConnectedParams fp;
      fp.rows = 7;  // one block of four rows and a partial one
      fp.in_features = kdim;
      fp.out_features = k.o;
      std::vector<int8_t> fx(static_cast<size_t>(7 * kdim));
      for (auto& v : fx) v = static_cast<int8_t>(xi(rng));
      std::vector<int8_t> fy_ref(static_cast<size_t>(7 * k.o)), fy_sp(fy_ref.size());
      q8_fully_connected__ref(fp, rq, fx.data(), q.data(), bias.data(), fy_ref.data(), nullptr);
      q8_fully_connected__sparse(fp, rq, sm, fx.data(), bias.data(), fy_sp.data(), nullptr);
      EXPECT_EQ(fy_ref, fy_sp);
      // Split over three threads (cost floor 1 forces the split): the same bits.
      ThreadPool pool(3, 1);
      std::vector<int8_t> fy_mt(fy_ref.size()), y_mt(y_ref.size());
      q8_fully_connected__sparse(fp, rq, sm, fx.data(), bias.data(), fy_mt.data(), &pool);
      q8_conv2d__sparse(p, rq, sm, x.data(), bias.data(), y_mt.data(), &pool);
      EXPECT_EQ(fy_mt, fy_sp);
      EXPECT_EQ(y_mt, y_sp);
      std::vector<float> fxf(fx.size()), g_ref(fy_ref.size()), g_sp(fy_ref.size());
      for (size_t i = 0; i < fx.size(); ++i) fxf[i] = static_cast<float>(fx[i]) / 32.0f;
      f32_fully_connected__ref(fp, fxf.data(), wf.data(), bf.data(), g_ref.data(), nullptr);
      f32_fully_connected__sparse(fp, smf, fxf.data(), bf.data(), g_sp.data(), nullptr);
      for (size_t i = 0; i < g_ref.size(); ++i) {
        EXPECT_NEAR(g_ref[i], g_sp[i], testing::F32DotTolerance(kdim, 8.0 * kdim + 8.0));
      }
    }
  }
}

// ---- plans ------------------------------------------------------------------------

// x [-1,6,6,4] -> CONV_2D 3x3 SAME (8) -> DEPTHWISE 3x3 -> CONV_2D 1x1 (8)
// -> RESHAPE [288] -> FULLY_CONNECTED [16, 288] -> FULLY_CONNECTED [10, 16]
// Conv/dense weights are stored sparse (encoding per layer); gears int8 /
// int8-sparse / fp32 / fp32-sparse / int4 / int4-sparse over the same bytes.
std::vector<uint8_t> PlanModel(std::mt19937* rng, double zeros, bool two_four) {
  GearModelBuilder b;
  const int x = b.AddInput("x", {-1, 6, 6, 4});
  struct W {
    const char* name;
    std::vector<int64_t> shape;
    int axis;
    const char* enc;
  };
  const W ws[] = {{"c1/w", {8, 3, 3, 4}, 0, two_four ? "2:4" : "csr"},
                  {"dw/w", {1, 3, 3, 8}, 3, "bitmap"},
                  {"c2/w", {8, 1, 1, 8}, 0, two_four ? "2:4" : "bitmap"},
                  {"f1/w", {16, 288}, 0, two_four ? "2:4" : "csr"},
                  {"f2/w", {10, 16}, 0, "dense"}};
  std::vector<int> wt, s8, s32, sr, s4, bt, sb;
  for (const W& w : ws) {
    int64_t n = 1;
    for (int64_t d : w.shape) n *= d;
    const int64_t c = w.shape[static_cast<size_t>(w.axis)];
    const int t = b.AddConstTensor(w.name, w.shape);
    const std::vector<int8_t> q = RandomWeights(rng, n, two_four ? 0.0 : zeros,
                                                two_four && std::string(w.enc) == "2:4");
    const QuantSpec wq = PerChannel(c, w.axis);
    int s;
    std::vector<int> r;
    if (std::string(w.enc) == "dense" || w.axis != 0) {
      s = b.AddI8Storage(w.shape, q, wq);
      r.assign(static_cast<size_t>(n), 3);
    } else {
      const testing::SparsePayload sp = EncodeSparse(q, c, w.enc);
      s = b.AddSparseI8Storage(w.enc, w.shape, sp.bytes, sp.nnz, wq);
      const int64_t slots = std::string(w.enc) == "2:4" ? n / 2 : sp.nnz;
      for (int64_t i = 0; i < slots; ++i) r.push_back(static_cast<int>(i % 16) - 8);
    }
    wt.push_back(t);
    s8.push_back(s);
    sr.push_back(b.AddQ8R4Storage(w.shape, s, r));
    s4.push_back(b.AddQ4MStorage(w.shape, s, 8));
    const std::string bn = std::string(w.name).substr(0, 2) + "/b";
    const int64_t o = w.axis == 0 ? w.shape[0] : w.shape[3];
    const int btt = b.AddConstTensor(bn, {o});
    std::vector<int32_t> bias(static_cast<size_t>(o));
    std::vector<float> biasf(static_cast<size_t>(o));
    QuantSpec bq;
    bq.axis = 0;
    for (int64_t i = 0; i < o; ++i) {
      bias[i] = static_cast<int32_t>((i * 37) % 200 - 100);
      biasf[i] = static_cast<float>(bias[i]) / 256.0f;
      bq.scale.push_back(0.001f);
    }
    bt.push_back(btt);
    s32.push_back(b.AddI32Storage({o}, bias, bq));
    sb.push_back(b.AddF32Storage({o}, biasf));
  }
  const int c1 = b.AddTensor("c1", {-1, 6, 6, 8});
  const int dw = b.AddTensor("dw", {-1, 6, 6, 8});
  const int c2 = b.AddTensor("c2", {-1, 6, 6, 8});
  const int fl = b.AddTensor("flat", {-1, 288});
  const int f1 = b.AddTensor("f1", {-1, 16});
  const int y = b.AddTensor("y", {-1, 10});
  const char* conv = R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","activation":"RELU"})";
  b.AddNode("c1", "CONV_2D", {x, wt[0], bt[0]}, {c1}, conv);
  b.AddNode("dw", "DEPTHWISE_CONV_2D", {c1, wt[1], bt[1]}, {dw},
            R"({"stride":[1,1],"dilation":[1,1],"padding":"SAME","depth_multiplier":1})");
  b.AddNode("c2", "CONV_2D", {dw, wt[2], bt[2]}, {c2}, conv);
  b.AddNode("flat", "RESHAPE", {c2}, {fl}, R"({"shape":[288]})");
  b.AddNode("f1", "FULLY_CONNECTED", {fl, wt[3], bt[3]}, {f1}, R"({"activation":"RELU"})");
  b.AddNode("f2", "FULLY_CONNECTED", {f1, wt[4], bt[4]}, {y}, "{}");
  b.AddOutput(y);
  std::vector<std::pair<int, int>> k8, kf, k4;
  for (size_t i = 0; i < 5; ++i) {
    k8.push_back({wt[i], s8[i]});
    k8.push_back({bt[i], s32[i]});
    k4.push_back({wt[i], s4[i]});
    k4.push_back({bt[i], s32[i]});
    kf.push_back({wt[i], sr[i]});
    kf.push_back({bt[i], sb[i]});
  }
  const std::vector<testing::ActSpec> acts = {{x, 0.03125f, -3}, {c1, 0.05f, -128},
                                              {dw, 0.1f, -128},  {c2, 0.15f, -128},
                                              {fl, 0.15f, -128}, {f1, 0.25f, -128},
                                              {y, 0.5f, 5}};
  b.AddGear("fp32", "f32", kf);
  b.AddGear("fp32-sparse", "f32", kf, {}, true);
  b.AddGear("int8", "q8", k8, acts);
  b.AddGear("int8-sparse", "q8", k8, acts, true);
  b.AddGear("int4", "q4", k4, acts);
  b.AddGear("int4-sparse", "q4", k4, acts, true);
  return b.Build();
}

std::vector<float> RunPlan(const ModelDesc& m, int gear, const std::vector<float>& x,
                           int64_t batch, double* ms = nullptr, int reps = 1) {
  std::unique_ptr<Plan> plan;
  const Status s = Plan::Build(m, gear, {{batch, 6, 6, 4}}, &plan);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  std::vector<uint8_t> arena(static_cast<size_t>(plan->arena_bytes()) + 64);
  auto* base = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(arena.data()) + 63) / 64 * 64);
  std::vector<float> y(static_cast<size_t>(batch * 10));
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) plan->Run(in, out, base, nullptr);
  if (ms != nullptr) {
    *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
              .count() / reps;
  }
  return y;
}

TEST(SparsePlanTest, SparseGearsMatchTheirDenseTwins) {
  std::mt19937 rng(5);
  for (double zeros : {0.0, 0.5, 0.9, -1.0}) {
    const std::vector<uint8_t> bytes = PlanModel(&rng, zeros < 0 ? 0.0 : zeros, zeros < 0);
    std::unique_ptr<GearFile> file;
    const Status st = GearFile::FromBuffer(bytes.data(), bytes.size(), GearFile::Options(), &file);
    ASSERT_TRUE(st.ok()) << st.message();
    const ModelDesc& m = file->model();
    std::vector<float> x(2 * 6 * 6 * 4);
    std::uniform_real_distribution<float> u(-2, 2);
    for (float& v : x) v = u(rng);
    // Sparse steps are really taken.
    std::unique_ptr<Plan> plan;
    ASSERT_TRUE(Plan::Build(m, 3, {{2, 6, 6, 4}}, &plan).ok());
    int sparse_steps = 0;
    for (const PlanStep& s : plan->steps()) sparse_steps += s.sparse() != nullptr;
    EXPECT_EQ(sparse_steps, 3);  // c1, c2, f1; dw and f2 are dense
    EXPECT_EQ(RunPlan(m, 2, x, 2), RunPlan(m, 3, x, 2)) << "int8, zeros " << zeros;
    EXPECT_EQ(RunPlan(m, 4, x, 2), RunPlan(m, 5, x, 2)) << "int4, zeros " << zeros;
    const std::vector<float> a = RunPlan(m, 0, x, 2), b = RunPlan(m, 1, x, 2);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(a[i], b[i], testing::kF32ModelRelTolerance * (1.0 + std::fabs(a[i])));
    }
  }
}

// Seeds for tests/cpp/fuzz_gear_reader.cc: the 1.2 files of this test.
TEST(SparseReaderTest, WritesFuzzSeedsWhenAsked) {
  const char* dir = std::getenv("GEARSHIFT_FUZZ_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "GEARSHIFT_FUZZ_CORPUS not set";
  std::mt19937 rng(3);
  std::vector<std::vector<uint8_t>> files = {MakeFcFile("bitmap", kQ).bytes,
                                             MakeFcFile("csr", kQ).bytes,
                                             MakeFcFile("2:4", kQ).bytes,
                                             PlanModel(&rng, 0.5, false), PlanModel(&rng, 0, true)};
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = std::string(dir) + "/seed_sparse_" + std::to_string(i) + ".gear";
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(files[i].data()),
              static_cast<std::streamsize>(files[i].size()));
    ASSERT_TRUE(out.good()) << path;
  }
}

}  // namespace
}  // namespace gearshift
