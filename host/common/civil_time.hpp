// Calendar arithmetic without the C library's time zone and locale machinery.
#pragma once

#include <optional>
#include <string_view>

namespace pyhost {

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (month 1-12, day 1-31),
// negative before it: H. Hinnant's days_from_civil. Not timegm(): that one normalizes out-of-
// range fields silently and costs a call through the time zone code per record.
constexpr long long days_from_civil(long long year, int month, int day) {
    year -= month <= 2;
    const long long era = (year >= 0 ? year : year - 399) / 400;
    const long long year_of_era = year - era * 400;
    const long long day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const long long day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

// The value of a field of ASCII digits (a date's "2023", "06"); nothing if it is empty or holds
// anything else (no sign, no space).
constexpr std::optional<long long> decimal_digits(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    long long value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + (c - '0');
    }
    return value;
}

// Seconds since the epoch of a UTC date and time of day, each field checked against its range
// (a leap second's 60 allowed); nothing if one is out of it.
constexpr std::optional<long long> seconds_from_civil(long long year, long long month, long long day, long long hour,
                                                      long long minute, long long second) {
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 60) {
        return std::nullopt;
    }
    return days_from_civil(year, static_cast<int>(month), static_cast<int>(day)) * 86400 + hour * 3600 +
           minute * 60 + second;
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(days_from_civil(1969, 12, 31) == -1);
static_assert(decimal_digits("0042") == 42 && !decimal_digits("4a") && !decimal_digits("") && !decimal_digits("-4"));
static_assert(seconds_from_civil(1970, 1, 2, 0, 0, 1) == 86401 && !seconds_from_civil(2023, 13, 1, 0, 0, 0));

}  // namespace pyhost
