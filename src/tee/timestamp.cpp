// RFC 3339 timestamps (include/veil/tee/timestamp.h).
#include "veil/tee/timestamp.h"

#include <cctype>
#include <stdexcept>

#include "veil/util/check.h"

namespace veil::tee {
namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  int digits(int n, const char* what) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
      if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_])))
        bad(util::cat("expected ", n, " digits for the ", what));
      v = v * 10 + (s_[pos_++] - '0');
    }
    return v;
  }
  void expect(char c) {
    if (pos_ >= s_.size() || s_[pos_] != c) bad(util::cat("expected '", c, "' at position ", pos_ + 1));
    ++pos_;
  }
  bool take(char c) {
    if (pos_ < s_.size() && std::tolower(static_cast<unsigned char>(s_[pos_])) == c) return ++pos_, true;
    return false;
  }
  bool done() const { return pos_ == s_.size(); }
  bool more_digits() const { return pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])); }
  [[noreturn]] void bad(const std::string& why) const {
    throw std::invalid_argument(util::cat("not an RFC 3339 time: '", s_, "': ", why));
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::time_t parse_timestamp(std::string_view text) {
  Cursor c(text);
  std::tm tm{};
  tm.tm_year = c.digits(4, "year") - 1900;
  c.expect('-');
  tm.tm_mon = c.digits(2, "month") - 1;
  c.expect('-');
  tm.tm_mday = c.digits(2, "day");
  long offset = 0;
  if (!c.done()) {
    if (!c.take('t') && !c.take(' ')) c.bad("expected 'T' after the date");
    tm.tm_hour = c.digits(2, "hour");
    c.expect(':');
    tm.tm_min = c.digits(2, "minute");
    c.expect(':');
    tm.tm_sec = c.digits(2, "second");
    if (c.take('.')) {
      c.digits(1, "fraction");
      while (c.more_digits()) c.digits(1, "fraction");
    }
    if (c.take('z')) {
      offset = 0;
    } else {
      int sign = 0;
      if (c.take('+')) sign = 1;
      else if (c.take('-')) sign = -1;
      else c.bad("a time needs a zone ('Z' or +HH:MM)");
      const int h = c.digits(2, "zone hour");
      c.expect(':');
      const int m = c.digits(2, "zone minute");
      if (h > 23 || m > 59) c.bad("zone offset out of range");
      offset = sign * (h * 3600L + m * 60L);
    }
    if (!c.done()) c.bad("trailing characters");
  }
  const std::tm asked = tm;
  const std::time_t t = timegm(&tm);
  if (tm.tm_year != asked.tm_year || tm.tm_mon != asked.tm_mon || tm.tm_mday != asked.tm_mday ||
      tm.tm_hour != asked.tm_hour || tm.tm_min != asked.tm_min || asked.tm_sec > 59)
    c.bad("no such date or time");
  return t - offset;
}

std::string format_timestamp(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace veil::tee
