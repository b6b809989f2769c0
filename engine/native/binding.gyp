# The engine's one native addon: TUN devices (Linux /dev/net/tun, macOS utun, Windows Wintun)
# and the UDP sockets of the underlay (udp_posix.c on Linux/macOS, udp_win32.c with Winsock),
# the peer credentials of a Unix socket (peercred_posix.c, Linux and macOS only), and the cheap
# path of the handshake (handshake_filter.c: mac1, mac2, cookie replies for a received batch).
# Plain C over node_api.h and libuv (both come with Node).
{
  "targets": [
    {
      "target_name": "wirelane_io",
      "sources": [
        "src/addon.c",
        "src/js_glue.c",
        "src/tun_posix.c",
        "src/tun_linux.c",
        "src/tun_darwin.c",
        "src/tun_win32.c",
        "src/udp_posix.c",
        "src/udp_win32.c",
        "src/pipe_win32.c",
        "src/service_win32.c",
        "src/handshake_filter.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS=='linux'", {
          "sources": ["src/peercred_posix.c"],
          "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
          "defines": ["_GNU_SOURCE"]
        }],
        ["OS=='mac'", {
          "sources": ["src/peercred_posix.c"],
          "xcode_settings": {
            "GCC_C_LANGUAGE_STANDARD": "gnu11",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_CFLAGS": ["-O2", "-Wall"]
          }
        }],
        ["OS=='win'", {
          "defines": ["WIN32_LEAN_AND_MEAN", "_WIN32_WINNT=0x0A00"],
          "libraries": ["iphlpapi.lib", "ws2_32.lib", "advapi32.lib"],
          "msvs_settings": { "VCCLCompilerTool": { "CompileAs": 1 } }
        }]
      ]
    }
  ]
}
