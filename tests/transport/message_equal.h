// Field-by-field equality of two transport messages, for the codec and wire tests.
#pragma once

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "veil/transport/message.h"

namespace veil::testing {

inline void expect_same(const transport::Message& a, const transport::Message& b) {
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.layer, b.layer);
  EXPECT_EQ(a.ints, b.ints);
  EXPECT_EQ(a.meta, b.meta);
  EXPECT_EQ(a.blobs, b.blobs);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const auto& u = b.tensor(name);
    EXPECT_EQ(t.scalar_type(), u.scalar_type()) << name;
    EXPECT_EQ(t.sizes(), u.sizes()) << name;
    EXPECT_TRUE(at::equal(t, u)) << name;
  }
}

}  // namespace veil::testing
