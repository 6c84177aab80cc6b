// The tensor type (views, copies, casts, concatenation), the zip container, CRC-32 and output files.
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/byte_sink.h"
#include "core/float_formats.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "io/zip.h"
#include "support/test_support.h"

using namespace mb;

namespace {
Tensor iota(DType dt, const Dims& shape) {
  Tensor f = Tensor::empty(DType::F32, shape);
  float* p = f.mutable_data_as<float>();
  for (int64_t i = 0; i < f.numel(); ++i) p[i] = static_cast<float>(i);
  return f.to(dt);
}
float at(const Tensor& t, std::initializer_list<int64_t> idx) {
  Tensor f = t.to(DType::F32);
  int64_t off = 0, d = 0;
  for (int64_t i : idx) off += i * f.strides()[static_cast<int>(d++)];
  return f.data_as<float>()[off];
}
}  // namespace

TEST(Tensor, ViewsShareStorage) {
  Tensor t = iota(DType::F32, {4, 5, 6});
  Tensor v = t.narrow(1, 1, 3).select(0, 2);  // [3, 6]
  EXPECT_EQ(v.shape(), (Dims{3, 6}));
  EXPECT_EQ(v.storage().get(), t.storage().get());
  EXPECT_FALSE(t.narrow(2, 0, 3).is_contiguous());
  EXPECT_FLOAT_EQ(at(v, {0, 0}), 2 * 30 + 1 * 6);
  EXPECT_THROW(t.narrow(1, 3, 3), Error);
  EXPECT_THROW(t.narrow(3, 0, 1), Error);
}

TEST(Tensor, StridedCopyAndCast) {
  Tensor t = iota(DType::F32, {6, 8});
  Tensor v = t.narrow(1, 2, 5);  // non-contiguous
  Tensor c = v.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage().get(), t.storage().get());
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 5; ++j) EXPECT_FLOAT_EQ(c.data_as<float>()[i * 5 + j], static_cast<float>(i * 8 + j + 2));
  Tensor b = v.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(b.data_as<uint16_t>()[0], f32_to_bf16(2.0f));
  // copy into a strided destination
  Tensor dst = Tensor::zeros(DType::F32, {5, 6}).reshape({5, 6});
  Tensor t2 = Tensor::zeros(DType::F32, {6, 5});
  t2.copy_from(c);
  EXPECT_TRUE(mbtest::BitwiseEqual(t2, c));
  EXPECT_THROW(dst.copy_from(c), Error);  // shapes differ
}

TEST(Tensor, CatAlongEachDimension) {
  Tensor a = iota(DType::BF16, {2, 3}), b = iota(DType::BF16, {2, 3});
  Tensor r = Tensor::cat({a, b}, 0);
  EXPECT_EQ(r.shape(), (Dims{4, 3}));
  EXPECT_TRUE(mbtest::BitwiseEqual(r.narrow(0, 2, 2).contiguous(), b));
  Tensor c = Tensor::cat({a, b.narrow(1, 0, 2)}, 1);
  EXPECT_EQ(c.shape(), (Dims{2, 5}));
  EXPECT_FLOAT_EQ(at(c, {1, 4}), 4.0f);
  EXPECT_THROW(Tensor::cat({a, iota(DType::F32, {2, 3})}, 0), Error);
}

TEST(Tensor, StorageBoundsAreChecked) {
  auto s = Storage::allocate(64);
  EXPECT_NO_THROW(Tensor::from_storage(s, 0, DType::F32, {16}));
  EXPECT_THROW(Tensor::from_storage(s, 4, DType::F32, {16}), Error);
  EXPECT_THROW(Tensor::from_storage(s, 0, DType::F32, {2, 8}, {16, 1}), Error);
  EXPECT_THROW(Tensor::from_storage(s, 0, DType::F32, {INT64_MAX, 2}), Error);
  EXPECT_THROW(Tensor::from_storage(s, 0, DType::F32, {-1}), Error);
  // borrowed storage is read-only
  static const float data[4] = {1, 2, 3, 4};
  Tensor r = Tensor::from_storage(Storage::borrow(data, sizeof(data), nullptr), 0, DType::F32, {4});
  EXPECT_THROW(r.mutable_data(), Error);
}

TEST(Tensor, DeviceCopiesWhenCudaIsAvailable) {
  if (!cuda_available()) {
    EXPECT_THROW(iota(DType::F32, {4}).to(Device{DeviceType::kCuda, 0}), Error);  // a clear error, no abort
    return;
  }
  Tensor t = iota(DType::BF16, {64, 33});
  Tensor d = t.to(Device{DeviceType::kCuda, 0});
  EXPECT_EQ(d.device().type, DeviceType::kCuda);
  EXPECT_TRUE(mbtest::BitwiseEqual(d.to(Device{}), t));
}

TEST(Zip, WriteReadAlignedAndZip64) {
  for (bool z64 : {false, true}) {
    MemorySink sink;
    sink.write_string("prefix bytes that are not part of the archive");
    size_t base = sink.bytes().size();
    ZipWriteOptions o;
    o.force_zip64 = z64;
    ZipWriter w(sink, o);
    std::string big(100000, 'x');
    w.add("a/one", std::string("hello"));
    w.add("a/two", big);
    w.begin_entry("a/three", 6);
    w.write("abc", 3);
    w.write("def", 3);
    w.end_entry();
    w.finish();
    ByteView archive{sink.bytes().data() + base, sink.bytes().size() - base};
    ZipReader r(archive, "mem");
    ASSERT_EQ(r.entries().size(), 3u);
    for (const auto& e : r.entries()) {
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
      r.verify_crc(e);
    }
    ByteView three = r.data(*r.find("a/three"));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(three.data), three.size), "abcdef");
    EXPECT_EQ(r.data(*r.find("a/two")).size, big.size());
  }
}

TEST(Zip, LargeEntryChecksumRunsBesideTheWriteAndIsTheSame) {
  // Over kParallelBytes the CRC is computed on another thread while the bytes are written, in two
  // write() calls as the gated-MLP import does: the entry's CRC must equal zlib's of all of it.
  std::string bytes(kParallelBytes + kParallelPieceBytes + 77, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 11);
  MemorySink sink;
  ZipWriter w(sink);
  w.begin_entry("a/big", bytes.size() * 2);
  w.write(bytes.data(), bytes.size());
  w.write(bytes.data(), bytes.size());
  w.end_entry();
  w.finish();
  ZipReader r(ByteView{sink.bytes().data(), sink.bytes().size()}, "mem");
  const ZipEntry& e = *r.find("a/big");
  uint32_t expected = crc32_portable(bytes.data(), bytes.size());
  expected = crc32_portable(bytes.data(), bytes.size(), expected);
  EXPECT_EQ(e.crc32, expected);
  r.verify_crc(e);
}

TEST(Crc32, StandardCheckValue) {
  const char* s = "123456789";  // the CRC-32 catalogue's check input; its CRC is 0xCBF43926
  EXPECT_EQ(crc32_of(s, 9), 0xCBF43926u);
  std::string long_input;
  for (int i = 0; i < 20; ++i) long_input += s;  // 180 bytes: takes the folding path
  EXPECT_EQ(crc32_of(long_input.data(), long_input.size()), crc32_portable(long_input.data(), long_input.size()));
}

TEST(Crc32, FoldingMatchesZlibAtEveryLengthAlignmentAndStart) {
  std::vector<uint8_t> bytes(1 << 20);
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(next() >> 24);
  for (size_t n = 0; n < 600; ++n)
    for (size_t offset : {0, 1, 7, 16, 63}) {
      uint32_t start = n % 3 ? next() : 0;
      ASSERT_EQ(crc32_of(bytes.data() + offset, n, start), crc32_portable(bytes.data() + offset, n, start))
          << "n=" << n << " offset=" << offset;
    }
  for (int i = 0; i < 50; ++i) {
    size_t offset = next() % 64, n = next() % (bytes.size() - 64);
    ASSERT_EQ(crc32_of(bytes.data() + offset, n, 0), crc32_portable(bytes.data() + offset, n, 0)) << "n=" << n;
  }
  // Continuing a CRC piece by piece gives the CRC of the whole.
  uint32_t pieces = crc32_of(bytes.data(), 1000);
  pieces = crc32_of(bytes.data() + 1000, bytes.size() - 1000, pieces);
  EXPECT_EQ(pieces, crc32_portable(bytes.data(), bytes.size()));
}

TEST(Crc32, LargeBuffersSplitOverThreadsGiveTheSameCrc) {
  std::vector<uint8_t> bytes(kParallelBytes * 2 + kParallelPieceBytes / 3 + 5);  // pieces plus a short one
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  EXPECT_EQ(crc32_of(bytes.data(), bytes.size(), 0x1234567u), crc32_portable(bytes.data(), bytes.size(), 0x1234567u));
}

TEST(OutputFile, BytesOfAMappedFileAreCopiedFileToFileAndComeOutTheSame) {
  // a 40 MB source (several copy_file_range calls' worth) with a pattern no two pieces share
  std::string dir = mbtest::scratch_dir("copy_range");
  std::string bytes(40u << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  mbtest::write_file(dir + "/src.bin", bytes);
  auto src = MappedFile::open(dir + "/src.bin");
  MappedRange r = find_mapped_range(src->data() + 12345, 1000);
  EXPECT_GE(r.fd, 0);
  EXPECT_EQ(r.offset, 12345u);
  EXPECT_EQ(find_mapped_range(src->data() + src->size() - 10, 11).fd, -1);  // runs past the end
  std::string heap = "not a mapping";
  EXPECT_EQ(find_mapped_range(heap.data(), heap.size()).fd, -1);

  // unaligned start and length, after some buffered bytes: what a checkpoint writer does
  const size_t from = 4097, length = bytes.size() - 3 * 4097;
  OutputFile out(dir + "/dst.bin");
  out.write("header", 6);
  out.write(src->data() + from, length);
  out.write("tail", 4);
  out.commit(false);
  EXPECT_EQ(mbtest::read_file(dir + "/dst.bin"), "header" + bytes.substr(from, length) + "tail");
}
