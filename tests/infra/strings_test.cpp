// The byte checks every value from the wire passes (infra/strings.h): tables of known
// good and bad UTF-8, and properties over random code points and bytes.
#include "infra/strings.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace tally {
namespace {

std::string encode(uint32_t cp) {
    std::string out;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
    return out;
}

}  // namespace

TEST(ValidUtf8, KnownGoodAndBadSequences) {
    for (const char* good : {"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x92\xb0", "\xef\xbf\xbf",
                             "\xf4\x8f\xbf\xbf"})
        EXPECT_TRUE(valid_utf8(good)) << good;
    for (const char* bad : {"\xff", "a\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                            "\xf8\x88\x80\x80\x80", "\x80", "\xe2\x82", "\xf0\x9f\x92"})
        EXPECT_FALSE(valid_utf8(bad)) << bad;
}

TEST(PrintableAscii, ClassesOfTheWire) {
    EXPECT_TRUE(printable_ascii("req-1:abc/DEF~"));
    EXPECT_FALSE(printable_ascii("a b"));
    EXPECT_TRUE(printable_ascii("a b", true));
    EXPECT_FALSE(printable_ascii("a\tb", true));
    EXPECT_FALSE(printable_ascii("caf\xc3\xa9", true));
    EXPECT_FALSE(printable_ascii(std::string("a\0b", 3), true));
    EXPECT_TRUE(has_control("a\x7f"));
    EXPECT_FALSE(has_control("a\tb", true));
    EXPECT_TRUE(has_control("a\tb"));
}

RC_GTEST_PROP(ValidUtf8, EveryScalarValueEncodesToValidUtf8, ()) {
    auto cp = *rc::gen::inRange<uint32_t>(0, 0x110000);
    RC_PRE(cp < 0xd800 || cp > 0xdfff);
    const auto prefix = *rc::gen::container<std::string>(rc::gen::inRange<char>(0x20, 0x7f));
    RC_ASSERT(valid_utf8(prefix + encode(cp) + prefix));
}

RC_GTEST_PROP(ValidUtf8, SurrogatesTruncationsAndStrayBytesAreInvalid, ()) {
    const auto surrogate = *rc::gen::inRange<uint32_t>(0xd800, 0xe000);
    RC_ASSERT_FALSE(valid_utf8(encode(surrogate)));
    const auto cp = *rc::gen::inRange<uint32_t>(0x80, 0x110000);
    RC_PRE(cp < 0xd800 || cp > 0xdfff);
    const std::string whole = encode(cp);
    const auto cut = *rc::gen::inRange<size_t>(1, whole.size());
    RC_ASSERT_FALSE(valid_utf8(whole.substr(0, cut)));           // a truncated sequence
    RC_ASSERT_FALSE(valid_utf8(whole.substr(cut)));              // continuation bytes alone
    RC_ASSERT_FALSE(valid_utf8("a" + std::string(1, '\xff')));  // a byte UTF-8 never uses
}

}  // namespace tally
