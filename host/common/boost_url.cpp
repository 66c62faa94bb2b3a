// Boost.URL, compiled into pyhost from its sources instead of linked from libboost_url.a.
//
// Why: its url_base.ipp includes <iostream> without using it, and that include brings the
// standard streams' static initializer (std::ios_base::Init: the eight streams and the classic
// locale), which ran at every start of pyhost for Boost.URL alone: 90 us here (a static C++
// `int main() {}` with and without <iostream>, 1,500 interleaved runs), about 1% of a
// `-c pass`. Defining libstdc++'s include guard makes that one include empty in this
// translation unit; nothing in Boost.URL uses the streams it declares.
#define _GLIBCXX_IOSTREAM 1
#include <boost/url/src.hpp>
