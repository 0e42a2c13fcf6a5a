{
  "variables": {
    # A oneDNN install prefix (include/, lib/): build.mjs passes the PyPI venv's; empty = the system's.
    "onednn_prefix%": ""
  },
  "targets": [
    {
      "target_name": "lenet_native",
      "sources": ["lenet_native.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-ffp-contract=off"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "conditions": [
        ["onednn_prefix!=''", {
          "include_dirs": ["<(onednn_prefix)/include"],
          # RPATH, not RUNPATH: found without LD_LIBRARY_PATH, beside the addon ($ORIGIN: the trainer
          # image copies libdnnl there) or in the prefix.
          "libraries": ["-L<(onednn_prefix)/lib", "-Wl,--disable-new-dtags", "-Wl,-rpath,'$$ORIGIN':<(onednn_prefix)/lib"]
        }]
      ]
    }
  ]
}
