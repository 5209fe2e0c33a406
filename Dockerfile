# tim-server, the reference server for Tencent Cloud IM's import_group_msg API family, as an image.
#
# Built offline: `cargo xtask image [--tag T]` (default tim-server:dev) builds a static binary
# (profile `dist`), stages it in target/image/ with the volume's empty mount point, and runs
# `docker build` on this directory; `.dockerignore` lets in only target/image/. No base image.
FROM scratch
COPY target/image/tim-server /tim-server
# The volume's mount point, owned by the server's user: a new named volume takes this ownership.
COPY --chown=65532:65532 target/image/data /data
# The embedded store is ./tim-server.db, so /data/tim-server.db; TIM_DATA or TIM_MEMORY=1 override it.
WORKDIR /data
VOLUME /data
# Every TIM_* variable given at run time overrides this. With `--network host`, listen on one
# loopback port instead: TIM_LISTEN=127.0.0.1:PORT. Credentials stay the documented development
# ones (with a warning in the log) unless TIM_SDKAPPID, TIM_ADMINS and TIM_SECRET_KEY are set.
ENV TIM_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER 65532:65532
# No curl in the image: the binary GETs /healthz on the listen address itself.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["/tim-server", "healthcheck"]
# The server handles SIGTERM itself (as PID 1 too): requests in flight get 3 s, then it exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/tim-server"]
