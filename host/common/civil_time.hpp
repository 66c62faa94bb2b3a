// Calendar arithmetic without the C library's time zone and locale machinery.
#pragma once

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

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(days_from_civil(1969, 12, 31) == -1);

}  // namespace pyhost
