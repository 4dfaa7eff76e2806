// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The gearshift authors.
//
// The strict JSON parser: RFC 8259 conformance (accept and reject lists in
// the spirit of JSONTestSuite), limits, error offsets, and the Ref getters'
// path-carrying messages that the .gear validator relies on.
#include "format/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace gearshift {
namespace json {
namespace {

Value MustParse(const std::string& text) {
  Value v;
  Status s = Parse(text, &v);
  EXPECT_TRUE(s.ok()) << text << ": " << s.message();
  return v;
}

std::string ParseError(const std::string& text) {
  Value v;
  Status s = Parse(text, &v);
  EXPECT_FALSE(s.ok()) << "accepted: " << text;
  if (!s.ok()) {
    EXPECT_EQ(s.code(), StatusCode::kFormatError);
  }
  return s.message();
}

TEST(JsonTest, Scalars) {
  EXPECT_TRUE(MustParse("null").is_null());
  EXPECT_TRUE(MustParse(" true ").bool_value());
  EXPECT_FALSE(MustParse("false").bool_value());
  EXPECT_EQ(MustParse("\"hi\"").string_value(), "hi");
  Value i = MustParse("-42");
  EXPECT_TRUE(i.is_int());
  EXPECT_EQ(i.int_value(), -42);
  EXPECT_EQ(i.number_value(), -42.0);
  Value d = MustParse("2.5e-1");
  EXPECT_TRUE(d.is_number());
  EXPECT_FALSE(d.is_int());
  EXPECT_DOUBLE_EQ(d.number_value(), 0.25);
  EXPECT_FALSE(MustParse("1.0").is_int());
  EXPECT_FALSE(MustParse("1e2").is_int());
  EXPECT_TRUE(MustParse("-0").is_int());
  EXPECT_STREQ(MustParse("1").TypeName(), "integer");
  EXPECT_STREQ(MustParse("1.5").TypeName(), "number");
}

TEST(JsonTest, IntegerLimits) {
  Value max = MustParse("9223372036854775807");
  EXPECT_TRUE(max.is_int());
  EXPECT_EQ(max.int_value(), INT64_MAX);
  Value min = MustParse("-9223372036854775808");
  EXPECT_TRUE(min.is_int());
  EXPECT_EQ(min.int_value(), INT64_MIN);
  Value over = MustParse("9223372036854775808");
  EXPECT_FALSE(over.is_int());
  EXPECT_TRUE(over.is_number());
  EXPECT_DOUBLE_EQ(over.number_value(), 9223372036854775808.0);
  EXPECT_FALSE(MustParse("-9223372036854775809").is_int());
  EXPECT_FALSE(MustParse("100000000000000000000000000000").is_int());
}

TEST(JsonTest, TinyNumbersRoundToZeroHugeOnesAreRefused) {
  for (const char* tiny : {"1e-400", "0.0000001e-320", "123e-500", "1e-99999999999999999999",
                           "0.000e999999"}) {
    Value v = MustParse(tiny);
    EXPECT_TRUE(v.is_number()) << tiny;
    EXPECT_EQ(v.number_value(), 0.0) << tiny;
  }
  EXPECT_TRUE(std::signbit(MustParse("-1e-400").number_value()));
  EXPECT_GT(MustParse("4.9e-324").number_value(), 0.0);  // subnormal, kept
  for (const char* huge : {"1e400", "-1e400", "0.001e312", "1" "000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000000000000000000000000000",
                           "10e99999999999999999999"}) {
    EXPECT_NE(ParseError(huge).find("out of the range of a double"), std::string::npos) << huge;
  }
}

TEST(JsonTest, ContainersAndFind) {
  Value v = MustParse(R"( { "a" : [1, 2, {"b": null}], "c": {}, "d": [] } )");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.size(), 3u);
  ASSERT_NE(v.Find("a"), nullptr);
  EXPECT_EQ(v.Find("a")->size(), 3u);
  EXPECT_TRUE(v.Find("a")->items()[2].Find("b")->is_null());
  EXPECT_TRUE(v.Find("c")->is_object());
  EXPECT_TRUE(v.Find("d")->is_array());
  EXPECT_EQ(v.Find("zz"), nullptr);
  EXPECT_EQ(v.Find("a")->Find("x"), nullptr);  // not an object
}

TEST(JsonTest, StringEscapesAndUtf8) {
  EXPECT_EQ(MustParse(R"("\"\\\/\b\f\n\r\t")").string_value(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(MustParse(R"("\u0041\u00e9\u20AC")").string_value(), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(MustParse(R"("\ud83d\ude00")").string_value(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("\u0000")").string_value(), std::string(1, '\0'));
  EXPECT_EQ(MustParse("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"").string_value(),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF");
}

TEST(JsonTest, RejectsInvalidStrings) {
  ParseError(R"("\ud83d")");          // lone high surrogate
  ParseError(R"("\ud83dx")");         // high surrogate, no escape after
  ParseError(R"("\ud83d\u0041")");    // high + non-low
  ParseError(R"("\ude00")");          // lone low surrogate
  ParseError(R"("\x41")");            // unknown escape
  ParseError(R"("\u12")");            // short \u
  ParseError(R"("\u12G4")");          // bad hex
  ParseError("\"a\nb\"");              // raw control char
  ParseError(std::string("\"a\0b\"", 5));
  ParseError("\"abc");                 // unterminated
  ParseError("\"abc\\");
  ParseError("'single'");
  // Invalid UTF-8: stray continuation, overlong, surrogate, > U+10FFFF,
  // truncated sequences, 0xFE/0xFF.
  for (const char* bad : {"\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80",
                          "\xF0\x80\x80\xAF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xC3",
                          "\xE2\x82", "\xF0\x9F\x98", "\xFE", "\xFF"}) {
    EXPECT_NE(ParseError(std::string("\"") + bad + "\"").find("UTF-8"), std::string::npos)
        << bad;
  }
}

TEST(JsonTest, RejectsInvalidSyntax) {
  const std::vector<std::string> bad = {
      "", " ", "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}",
      "{a:1}", "{1:1}", "{\"a\":}", "01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "NaN",
      "Infinity", "-Infinity", "nul", "tru", "falsey", "[true false]", "1 2", "{} x",
      "\xEF\xBB\xBF{}", std::string("[1]\0", 4), "\f1", "[1e400]", "-1e400", "//c\n1",
      "[\"a\"\"b\"]", "[1]]", "{\"a\":1}}", "\v1"};
  for (const std::string& text : bad) ParseError(text);
}

TEST(JsonTest, ErrorsCarryByteOffset) {
  EXPECT_NE(ParseError("[1, 2, x]").find("byte 7"), std::string::npos);
  EXPECT_NE(ParseError("{\"a\": 1 \"b\"}").find("byte 8"), std::string::npos);
  EXPECT_NE(ParseError("[01]").find("leading zero"), std::string::npos);
}

TEST(JsonTest, DuplicateKeysRejected) {
  EXPECT_NE(ParseError(R"({"a":1,"a":2})").find("duplicate object key \"a\""),
            std::string::npos);
  // Large objects take the sorted path.
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  std::string ok = big + "\"last\":0}";
  EXPECT_EQ(MustParse(ok).size(), 101u);
  EXPECT_NE(ParseError(big + "\"k57\":0}").find("duplicate"), std::string::npos);
}

TEST(JsonTest, DepthLimit) {
  std::string ok(kMaxDepth, '[');
  ok += std::string(kMaxDepth, ']');
  MustParse(ok);
  std::string deep(kMaxDepth + 1, '[');
  deep += std::string(kMaxDepth + 1, ']');
  EXPECT_NE(ParseError(deep).find("nesting deeper than 64"), std::string::npos);
  // Far deeper input must fail cleanly, not overflow the stack.
  std::string very_deep(1 << 20, '[');
  ParseError(very_deep);
  std::string objs;
  for (int i = 0; i < 100000; ++i) objs += "{\"a\":";
  ParseError(objs);
}

TEST(JsonTest, SizeLimit) {
  std::string big(kMaxInputBytes + 1, ' ');
  big[0] = '0';
  EXPECT_NE(ParseError(big).find("limit"), std::string::npos);
}

TEST(JsonTest, ValueCountLimit) {
  // The array itself plus n elements: n + 1 values.
  auto array_of = [](size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += i ? ",0" : "0";
    return s + "]";
  };
  Value v = MustParse(array_of(kMaxValues - 1));
  EXPECT_EQ(v.size(), kMaxValues - 1);
  EXPECT_NE(ParseError(array_of(kMaxValues)).find("more than 1048576 values"), std::string::npos);
  // Containers and object member values count; keys do not.
  std::string obj = "{";
  for (size_t i = 0; i + 2 < kMaxValues / 2; ++i) {
    obj += (i ? ",\"" : "\"") + std::to_string(i) + "\":[]";
  }
  obj += "}";
  MustParse("[" + obj + "," + obj + "]");  // 1 + 2 * (1 + (kMaxValues/2 - 2)) values
  EXPECT_NE(ParseError("[" + obj + "," + obj + ",1,2,3]").find("values"), std::string::npos);
  // A hostile near-64 MiB manifest is refused early, without a huge DOM.
  std::string hostile(kMaxInputBytes - 2, '0');
  for (size_t i = 1; i < hostile.size(); i += 2) hostile[i] = ',';
  hostile = "[" + hostile.substr(0, hostile.size() - 1) + "0]";
  EXPECT_NE(ParseError(hostile).find("values"), std::string::npos);
}

TEST(JsonTest, NonTerminatedBufferIsNotOverread) {
  // Parse takes a length; bytes past it are never read even without a NUL.
  const char buf[] = {'[', '1', ',', '2', ']', 'x'};
  Value v;
  EXPECT_TRUE(Parse(buf, 5, &v).ok());
  EXPECT_FALSE(Parse(buf, 4, &v).ok());
}

TEST(JsonTest, RefGettersNamePath) {
  Value v = MustParse(R"({"nodes":[{"attrs":{"stride":"x","k":[1,2,3],"b":1,"n":1.5}}]})");
  Ref root(&v, "");
  Ref nodes, attrs, stride, k, b, n;
  ASSERT_TRUE(root.Member("nodes", &nodes).ok());
  EXPECT_EQ(nodes.path(), "nodes");
  size_t size = 0;
  ASSERT_TRUE(nodes.ExpectArray(&size, 1).ok());
  ASSERT_TRUE(nodes.Item(0).Member("attrs", &attrs).ok());
  ASSERT_TRUE(attrs.Member("stride", &stride).ok());
  std::vector<int64_t> ints;
  Status s = stride.GetIntArray(&ints, 1, 100, 2);
  EXPECT_EQ(s.code(), StatusCode::kFormatError);
  EXPECT_EQ(s.message(), "nodes[0].attrs.stride: expected array of 2 integers, found string");
  ASSERT_TRUE(attrs.Member("k", &k).ok());
  EXPECT_EQ(k.GetIntArray(&ints, 1, 100, 2).message(),
            "nodes[0].attrs.k: expected array of 2 integers, found 3 elements");
  EXPECT_TRUE(k.GetIntArray(&ints, 1, 100).ok());
  EXPECT_EQ(ints, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(k.GetIntArray(&ints, 2, 100).message(),
            "nodes[0].attrs.k[0]: integer 1 out of range [2, 100]");
  Status missing = attrs.Member("padding", &b);
  EXPECT_EQ(missing.message(), "nodes[0].attrs: missing required key \"padding\"");
  bool found = true;
  ASSERT_TRUE(attrs.OptionalMember("zz", &b, &found).ok());
  EXPECT_FALSE(found);
  ASSERT_TRUE(attrs.Member("b", &b).ok());
  int64_t i64;
  int i32;
  EXPECT_TRUE(b.GetInt(&i64).ok());
  EXPECT_EQ(b.GetInt(&i32, 2, 3).message(), "nodes[0].attrs.b: integer 1 out of range [2, 3]");
  std::string str;
  EXPECT_EQ(b.GetString(&str).message(), "nodes[0].attrs.b: expected string, found integer");
  ASSERT_TRUE(attrs.Member("n", &n).ok());
  EXPECT_EQ(n.GetInt(&i64).message(), "nodes[0].attrs.n: expected integer, found number");
  double d;
  EXPECT_TRUE(n.GetNumber(&d).ok());
  bool flag;
  EXPECT_EQ(n.GetBool(&flag).message(), "nodes[0].attrs.n: expected boolean, found number");
  EXPECT_EQ(b.Member("x", &n).message(), "nodes[0].attrs.b: expected object, found integer");
}

}  // namespace
}  // namespace json
}  // namespace gearshift
