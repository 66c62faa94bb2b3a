# pyhost in a container, swapped in for python3: programs keep their launch command
# (`python3 main.py ...`), and pyhost runs them as PID 1 with an init parent.
#
#   docker build -t pyhost .
#   docker run --rm pyhost python3 -c 'import sys; print(sys.executable)'

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build python3.11 python3.11-dev libpython3.11-dev \
      libboost1.81-dev libboost-json1.81-dev \
      libcurl4-openssl-dev zlib1g-dev libdeflate-dev libzstd-dev libarchive-dev catch2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The release build's libpython, built with PGO and LTO from Debian's source package of the
# installed python3.11 (README, "Which libpython"; about 35 minutes). --build-arg PYHOST_PGO=0
# skips it, as does a missing source package: the build then embeds Debian's library.
ARG PYHOST_PGO=1
RUN if [ "$PYHOST_PGO" != 0 ]; then ./cmake/build_pgo_python.sh || echo "no PGO libpython: embedding Debian's"; fi
# The reporter's libcurls, HTTP(S) over OpenSSL and plain HTTP, from Debian's source of the
# installed libcurl4 (README, "Shipping to engines"); without them Debian's libcurl.so.4 is loaded.
RUN ./cmake/build_lean_curl.sh || echo "no lean libcurls: the reporter loads Debian's libcurl"
RUN cmake --preset release -DBUILD_TESTING=OFF \
 && cmake --build --preset release \
 && mkdir -p /out/lib \
 && for lib in libpyhost-curl.so.4 libpyhost-curl-http.so.4; do \
      if [ -f "build/release/$lib" ]; then cp "build/release/$lib" /out/lib/; fi; done

FROM debian:12-slim
# The standard library and lib-dynload of the Debian python3.11 that pyhost embeds; libcurl for
# the reporter (loaded only when a sink is configured); libarchive for function archives (loaded
# only when one is extracted).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 libcurl4 libarchive13 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/pyhost /usr/local/bin/pyhost
# The lean libcurls when the build made them: the reporter looks in ../lib/pyhost/ from pyhost.
COPY --from=build /out/lib/ /usr/local/lib/pyhost/
# /usr/local/bin comes first on PATH: python3 and python now mean pyhost.
RUN ln -s pyhost /usr/local/bin/python3 && ln -s pyhost /usr/local/bin/python
ENTRYPOINT ["/usr/local/bin/pyhost"]
CMD ["help"]
