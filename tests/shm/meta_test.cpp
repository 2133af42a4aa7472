// Registry meta: put, overwrite, delete, and the size limit of its block.
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

using Meta = std::vector<std::pair<std::string, std::string>>;

class MetaTest : public SegmentFixture {
 protected:
  void SetUp() override {
    SegmentFixture::SetUp();
    id_ = ok(w().create_registry(spec("svc")));
    other_ = ok(w().create_registry(spec("other", RegistryKind::duplicate)));
  }
  Meta meta(const char* reg = "svc") { return ok(r().meta(view(reg))); }
  std::uint32_t id_ = 0, other_ = 0;
};

TEST_F(MetaTest, NewRegistryHasNoMeta) {
  EXPECT_TRUE(meta().empty());
  EXPECT_TRUE(meta("other").empty());
}

TEST_F(MetaTest, MetaGivenAtCreationIsThereFromTheFirstMoment) {
  RegistrySpec s = spec("born");
  s.meta = {{"owner", "team-a"}, {"bin", std::string("\0\xff", 2)}};
  const auto id = ok(w().create_registry(s));
  EXPECT_EQ(meta("born"), s.meta);
  // Creating it again (same options) keeps the meta it has.
  ok(w().put_meta(id, "owner", "team-b"));
  RegistrySpec again = spec("born");
  again.meta = {{"owner", "ignored"}};
  EXPECT_EQ(ok(w().create_registry(again)), id);
  EXPECT_EQ(meta("born"), (Meta{{"owner", "team-b"}, {"bin", std::string("\0\xff", 2)}}));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(MetaTest, BadMetaAtCreationCreatesNothing) {
  RegistrySpec dup_key = spec("x");
  dup_key.meta = {{"k", "1"}, {"k", "2"}};
  EXPECT_EQ(w().create_registry(dup_key).error(), Errc::invalid_argument);
  RegistrySpec empty_key = spec("x");
  empty_key.meta = {{"", "1"}};
  EXPECT_EQ(w().create_registry(empty_key).error(), Errc::invalid_argument);
  RegistrySpec too_big = spec("x");
  too_big.meta = {{"k", std::string(kMetaBlockSize, 'v')}};
  EXPECT_EQ(w().create_registry(too_big).error(), Errc::meta_too_large);
  EXPECT_FALSE(r().registry("x"));
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(MetaTest, PutMetaThenMetaReturnsItAndOverwriteReplaces) {
  ok(w().put_meta(id_, "owner", "team-a"));
  ok(w().put_meta(id_, "ttl", "30"));
  EXPECT_EQ(meta(), (Meta{{"owner", "team-a"}, {"ttl", "30"}}));
  ok(w().put_meta(id_, "owner", "team-b"));
  EXPECT_EQ(meta(), (Meta{{"owner", "team-b"}, {"ttl", "30"}}));
  ok(w().put_meta(id_, "empty", ""));
  EXPECT_EQ(meta().size(), 3u);
  EXPECT_TRUE(meta("other").empty()) << "meta belongs to one registry";
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(MetaTest, DeleteMetaRemovesOneKeyAndMissingKeysFailWithNotFound) {
  ok(w().put_meta(id_, "a", "1"));
  ok(w().put_meta(id_, "b", std::string("\0\xff", 2)));
  ok(w().delete_meta(id_, "a"));
  EXPECT_EQ(meta(), (Meta{{"b", std::string("\0\xff", 2)}}));
  EXPECT_EQ(error_of(w().delete_meta(id_, "a")), Errc::not_found);
  EXPECT_EQ(error_of(w().delete_meta(other_, "b")), Errc::not_found);
  ok(w().delete_meta(id_, "b"));
  EXPECT_TRUE(meta().empty());
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(MetaTest, MetaThatDoesNotFitItsBlockFailsWithMetaTooLarge) {
  ok(w().put_meta(id_, "keep", "me"));
  EXPECT_EQ(error_of(w().put_meta(id_, "big", std::string(kMetaBlockSize, 'x'))), Errc::meta_too_large);
  EXPECT_EQ(meta(), (Meta{{"keep", "me"}}));
  // Exactly full: 8 + 8 ("keep") + 8 ("me") + 8 + 8 ("fill") + value.
  const std::size_t room = kMetaBlockSize - 24 - 16;
  ok(w().put_meta(id_, "fill", std::string(room, 'f')));
  EXPECT_EQ(meta().size(), 2u);
  EXPECT_EQ(meta()[1].second.size(), room);
  EXPECT_EQ(error_of(w().put_meta(id_, "x", "")), Errc::meta_too_large);
  EXPECT_EQ(meta().size(), 2u);
  EXPECT_TRUE(IsValidSegment(r()));
}

TEST_F(MetaTest, EmptyOrOverlongMetaKeysAreInvalidArgument) {
  EXPECT_EQ(error_of(w().put_meta(id_, "", "v")), Errc::invalid_argument);
  EXPECT_EQ(error_of(w().put_meta(id_, std::string(256, 'k'), "v")), Errc::invalid_argument);
  ok(w().put_meta(id_, std::string(255, 'k'), "v"));
  EXPECT_EQ(meta().size(), 1u);
}

TEST_F(MetaTest, MetaSurvivesManyRewritesAndReattach) {
  for (int i = 0; i < 100; ++i) ok(w().put_meta(id_, "k" + std::to_string(i % 7), std::to_string(i)));
  const Meta before = meta();
  EXPECT_EQ(before.size(), 7u);
  writer_.reset();
  writer_.emplace(ok(SegmentWriter::attach(ns_.path())));
  EXPECT_EQ(meta(), before);
  ok(w().delete_meta(id_, "k3"));
  EXPECT_EQ(meta().size(), 6u);
  EXPECT_TRUE(IsValidSegment(r()));
}

}  // namespace
}  // namespace shmreg::shm::test
