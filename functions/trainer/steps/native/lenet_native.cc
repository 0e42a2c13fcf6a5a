// The LeNet-5 training step of functions/trainer/lenet-step.ts (forward, softmax cross-entropy,
// backward, Adam), on oneDNN primitives. It compiles against the v3 C++ API (oneDNN 3.x from PyPI,
// the default build) and the v2 one (Debian's libdnnl 2.6, LENET_ONEDNN=system); the few calls that
// differ go through the helpers in `namespace api` below. Both builds use the OpenMP runtime.
//
// Primitives are created once per (batch size, thread count) and executed per batch. The weights
// and the Adam moments live here, in the layouts the forward primitives chose ("master" layouts);
// getParam/setParam reorder them from/to the Keras layouts of the LayersModel variables, so the
// TS wrapper (./native-step.ts) can keep tf.Variables and the tf Adam state in step.
#include <napi.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "oneapi/dnnl/dnnl_version.h"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
using dims = memory::dims;

#if DNNL_CPU_THREADING_RUNTIME != DNNL_RUNTIME_OMP
// The hand-written loops and the thread count per call (omp_set_num_threads) assume oneDNN runs on OpenMP.
#error "lenet_native needs a oneDNN built with the OpenMP CPU runtime"
#endif

// Primitive descriptors: v3 dropped the op descriptors (the engine comes first, the attributes last).
namespace api {
#if DNNL_VERSION_MAJOR >= 3
inline dims dimsOf(const memory::desc &md) { return md.get_dims(); }
inline void appendTanh(post_ops &po) { po.append_eltwise(algorithm::eltwise_tanh, 0.f, 0.f); }
inline eltwise_backward::primitive_desc tanhBackward(const engine &eng, const memory::desc &y, const memory::desc &dy) {
  eltwise_forward::primitive_desc hint(eng, prop_kind::forward_training, algorithm::eltwise_tanh_use_dst_for_bwd, y, y, 0.f, 0.f);
  return eltwise_backward::primitive_desc(eng, algorithm::eltwise_tanh_use_dst_for_bwd, dy, dy, y, 0.f, 0.f, hint);
}
inline convolution_forward::primitive_desc convFwd(const engine &eng, const memory::desc &src, const memory::desc &w, const memory::desc &b,
                                                   const memory::desc &dst, const primitive_attr &attr) {
  return convolution_forward::primitive_desc(eng, prop_kind::forward_training, algorithm::convolution_direct, src, w, b, dst, {1, 1}, {0, 0},
                                             {0, 0}, attr);
}
inline convolution_backward_weights::primitive_desc convBwdWeights(const engine &eng, const memory::desc &src, const memory::desc &dw,
                                                                   const memory::desc &db, const memory::desc &dDst,
                                                                   const convolution_forward::primitive_desc &hint) {
  return convolution_backward_weights::primitive_desc(eng, algorithm::convolution_direct, src, dw, db, dDst, {1, 1}, {0, 0}, {0, 0}, hint);
}
inline convolution_backward_data::primitive_desc convBwdData(const engine &eng, const memory::desc &dSrc, const memory::desc &w,
                                                             const memory::desc &dDst, const convolution_forward::primitive_desc &hint) {
  return convolution_backward_data::primitive_desc(eng, algorithm::convolution_direct, dSrc, w, dDst, {1, 1}, {0, 0}, {0, 0}, hint);
}
inline inner_product_forward::primitive_desc ipFwd(const engine &eng, const memory::desc &src, const memory::desc &w, const memory::desc &b,
                                                   const memory::desc &dst, const primitive_attr &attr) {
  return inner_product_forward::primitive_desc(eng, prop_kind::forward_training, src, w, b, dst, attr);
}
inline inner_product_backward_weights::primitive_desc ipBwdWeights(const engine &eng, const memory::desc &src, const memory::desc &dw,
                                                                   const memory::desc &db, const memory::desc &dDst,
                                                                   const inner_product_forward::primitive_desc &hint) {
  return inner_product_backward_weights::primitive_desc(eng, src, dw, db, dDst, hint);
}
inline inner_product_backward_data::primitive_desc ipBwdData(const engine &eng, const memory::desc &dSrc, const memory::desc &w,
                                                             const memory::desc &dDst, const inner_product_forward::primitive_desc &hint) {
  return inner_product_backward_data::primitive_desc(eng, dSrc, w, dDst, hint);
}
#else
inline dims dimsOf(const memory::desc &md) { return md.dims(); }
inline void appendTanh(post_ops &po) { po.append_eltwise(1.f, algorithm::eltwise_tanh, 0.f, 0.f); }
inline eltwise_backward::primitive_desc tanhBackward(const engine &eng, const memory::desc &y, const memory::desc &dy) {
  // The backward descriptor needs a forward one as a hint: created, never run.
  eltwise_forward::desc hintD(prop_kind::forward_training, algorithm::eltwise_tanh_use_dst_for_bwd, y, 0.f, 0.f);
  eltwise_forward::primitive_desc hint(hintD, eng);
  eltwise_backward::desc d(algorithm::eltwise_tanh_use_dst_for_bwd, dy, y, 0.f, 0.f);
  return eltwise_backward::primitive_desc(d, eng, hint);
}
inline convolution_forward::primitive_desc convFwd(const engine &eng, const memory::desc &src, const memory::desc &w, const memory::desc &b,
                                                   const memory::desc &dst, const primitive_attr &attr) {
  convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, src, w, b, dst, {1, 1}, {0, 0}, {0, 0});
  return convolution_forward::primitive_desc(d, attr, eng);
}
inline convolution_backward_weights::primitive_desc convBwdWeights(const engine &eng, const memory::desc &src, const memory::desc &dw,
                                                                   const memory::desc &db, const memory::desc &dDst,
                                                                   const convolution_forward::primitive_desc &hint) {
  convolution_backward_weights::desc d(algorithm::convolution_direct, src, dw, db, dDst, {1, 1}, {0, 0}, {0, 0});
  return convolution_backward_weights::primitive_desc(d, eng, hint);
}
inline convolution_backward_data::primitive_desc convBwdData(const engine &eng, const memory::desc &dSrc, const memory::desc &w,
                                                             const memory::desc &dDst, const convolution_forward::primitive_desc &hint) {
  convolution_backward_data::desc d(algorithm::convolution_direct, dSrc, w, dDst, {1, 1}, {0, 0}, {0, 0});
  return convolution_backward_data::primitive_desc(d, eng, hint);
}
inline inner_product_forward::primitive_desc ipFwd(const engine &eng, const memory::desc &src, const memory::desc &w, const memory::desc &b,
                                                   const memory::desc &dst, const primitive_attr &attr) {
  inner_product_forward::desc d(prop_kind::forward_training, src, w, b, dst);
  return inner_product_forward::primitive_desc(d, attr, eng);
}
inline inner_product_backward_weights::primitive_desc ipBwdWeights(const engine &eng, const memory::desc &src, const memory::desc &dw,
                                                                   const memory::desc &db, const memory::desc &dDst,
                                                                   const inner_product_forward::primitive_desc &hint) {
  inner_product_backward_weights::desc d(src, dw, db, dDst);
  return inner_product_backward_weights::primitive_desc(d, eng, hint);
}
inline inner_product_backward_data::primitive_desc ipBwdData(const engine &eng, const memory::desc &dSrc, const memory::desc &w,
                                                             const memory::desc &dDst, const inner_product_forward::primitive_desc &hint) {
  inner_product_backward_data::desc d(dSrc, w, dDst);
  return inner_product_backward_data::primitive_desc(d, eng, hint);
}
#endif
}  // namespace api

namespace {

constexpr int NUM_PARAMS = 10;
constexpr int CLASSES = 10;
constexpr int PIXELS = 28 * 28;
constexpr float CLIP = 1e-7f;

// Logical oneDNN dims of the 10 trainable tensors, and the Keras layout of each as a format tag:
// conv kernels [kh, kw, in, out] = hwio; the Dense after Flatten has a [h·w·c, 84] kernel, i.e.
// hwio over (84, 120, 5, 5); the last Dense [84, 10] = io.
const dims PARAM_DIMS[NUM_PARAMS] = {
    {6, 1, 5, 5}, {6}, {16, 6, 5, 5}, {16}, {120, 16, 5, 5}, {120}, {84, 120, 5, 5}, {84}, {10, 84}, {10},
};
const tag KERAS_TAG[NUM_PARAMS] = {tag::hwio, tag::x, tag::hwio, tag::x, tag::hwio, tag::x, tag::hwio, tag::x, tag::io, tag::x};

enum Kind { WEIGHT = 0, M = 1, V = 2, GRAD = 3 };

struct Param {
  memory::desc md;
  memory w, m, v, g;  // all in md
  size_t size() const { return md.get_size() / sizeof(float); }
};

memory zeroed(const memory::desc &md, const engine &eng) {
  memory mem(md, eng);
  std::memset(mem.get_data_handle(), 0, md.get_size());
  return mem;
}

// A weight as one primitive wants it: the master memory itself, or a copy reordered per step.
struct WeightUse {
  memory mem;
  bool reorder = false;
};

using Args = std::unordered_map<int, memory>;

// A step of the pass: a oneDNN primitive with its arguments, or a hand-written loop.
struct Op {
  primitive prim;
  Args args;
  std::function<void()> fn;
  Op(primitive p, Args a) : prim(std::move(p)), args(std::move(a)) {}
  Op(std::pair<primitive, Args> pa) : prim(std::move(pa.first)), args(std::move(pa.second)) {}
  explicit Op(std::function<void()> f) : fn(std::move(f)) {}
};

// One set of primitives and activation buffers for a batch size and thread count.
struct Net {
  int batch, threads;
  std::vector<Op> forward, backward;
  std::vector<std::pair<memory, memory>> preReorders;   // master weight -> layout a primitive wants
  std::vector<std::pair<memory, memory>> postReorders;  // gradient as computed -> master layout
  memory x, logits, dLogits;
  std::vector<std::string> impls;
};

struct Trainer {
  engine eng{engine::kind::cpu, 0};
  stream strm{eng};
  Param params[NUM_PARAMS];
  bool mastersSet = false;
  std::map<std::pair<int, int>, std::unique_ptr<Net>> nets;

  // Uses the master layout when the primitive accepted it, else a scratch buffer reordered per step.
  WeightUse weightFor(Net &net, int p, const memory::desc &want) {
    if (want == params[p].md) return {params[p].w, false};
    memory scratch = zeroed(want, eng);
    net.preReorders.emplace_back(params[p].w, scratch);
    return {scratch, true};
  }
  memory gradFor(Net &net, int p, const memory::desc &got) {
    if (got == params[p].md) return params[p].g;
    memory scratch = zeroed(got, eng);
    net.postReorders.emplace_back(scratch, params[p].g);
    return scratch;
  }
  void setMaster(int p, const memory::desc &md) {
    if (mastersSet) return;
    params[p].md = md;
    params[p].w = zeroed(md, eng);
    params[p].m = zeroed(md, eng);
    params[p].v = zeroed(md, eng);
    params[p].g = zeroed(md, eng);
  }

  static bool isRef(const char *impl) { return std::strncmp(impl, "ref", 3) == 0; }

  // The first "jit:" implementation oneDNN offers, else its first choice: for the backward-data
  // convolutions, oneDNN 3.x ranks a brgemm-based one first that is slower at these shapes.
  template <typename Make>
  static auto preferJit(Make make) -> decltype(make()) {
    auto pd = make();
    do {
      if (std::strncmp(pd.impl_info_str(), "jit:", 4) == 0) return pd;
    } while (pd.next_impl());
    return make();
  }

  // A backward primitive with the weights in the master layout (no per-step reorder), unless oneDNN
  // refuses that layout or has only a reference kernel for it: then in the layout it prefers.
  template <typename Make>
  static auto preferMaster(Make make, const memory::desc &master, const memory::desc &any) -> decltype(make(master)) {
    try {
      auto pd = make(master);
      if (!isRef(pd.impl_info_str())) return pd;
    } catch (const dnnl::error &) {
    }
    return make(any);
  }

  Net &netFor(int batch, int threads) {
    auto key = std::make_pair(batch, threads);
    auto it = nets.find(key);
    if (it != nets.end()) return *it->second;
    omp_set_num_threads(threads);
    auto net = std::make_unique<Net>();
    net->batch = batch;
    net->threads = threads;
    build(*net);
    mastersSet = true;
    return *(nets[key] = std::move(net));
  }

  void build(Net &net) {
    const memory::dim N = net.batch;
    auto act = [&](memory::dim c, memory::dim hw) { return memory::desc({N, c, hw, hw}, dt::f32, tag::nhwc); };
    auto anyW = [&](int p) { return memory::desc(PARAM_DIMS[p], dt::f32, tag::any); };
    auto bias = [&](int p) { return memory::desc(PARAM_DIMS[p], dt::f32, tag::x); };
    auto mem = [&](const memory::desc &md) { return zeroed(md, eng); };
    primitive_attr tanhAttr;
    {
      post_ops po;
      api::appendTanh(po);
      tanhAttr.set_post_ops(po);
    }
    // Biases stay in plain `x` everywhere: set them up on first build.
    for (int p = 1; p < NUM_PARAMS; p += 2) setMaster(p, bias(p));

    struct ConvLayer {
      int p;
      memory src, dst;        // input activation, tanh output
      memory dSrc, dDst;      // their gradients (dDst is also tanh's diff_src, in place)
      bool needDataGrad;
    };
    memory::desc xMd({N, 1, 28, 28}, dt::f32, tag::nhwc);
    net.x = memory(xMd, eng, nullptr);
    memory a1 = mem(act(6, 24)), p1 = mem(act(6, 23)), a2 = mem(act(16, 19)), p2 = mem(act(16, 9)), a3 = mem(act(120, 5));
    memory da1 = mem(act(6, 24)), dp1 = mem(act(6, 23)), da2 = mem(act(16, 19)), dp2 = mem(act(16, 9)), da3 = mem(act(120, 5));
    memory::desc a4Md({N, 84}, dt::f32, tag::nc), logitMd({N, CLASSES}, dt::f32, tag::nc);
    memory a4 = mem(a4Md), da4 = mem(a4Md);
    net.logits = mem(logitMd);
    net.dLogits = mem(logitMd);

    std::vector<Op> bwd;  // built in forward order, run reversed
    auto note = [&](const char *what, const char *impl) { net.impls.push_back(std::string(what) + ": " + impl); };

    // tanh backward in place on the gradient, from the saved tanh output.
    auto tanhBackward = [&](const memory &y, const memory &dy, const char *what) {
      eltwise_backward::primitive_desc pd = api::tanhBackward(eng, y.get_desc(), dy.get_desc());
      note(what, pd.impl_info_str());
      return std::make_pair(primitive(eltwise_backward(pd)),
                            std::unordered_map<int, memory>{{DNNL_ARG_DST, y}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, dy}});
    };

    // conv 5x5 valid + tanh; backward: tanh, weights (+bias), data (unless first layer).
    auto conv = [&](int p, const memory &src, const memory &dst, const memory &dSrc, const memory &dDst, bool dataGrad, bool tanhHere,
                    const char *name, std::vector<Op> &backward) {
      convolution_forward::primitive_desc fpd = api::convFwd(eng, src.get_desc(), anyW(p), bias(p + 1), dst.get_desc(), tanhAttr);
      setMaster(p, fpd.weights_desc());
      note(name, fpd.impl_info_str());
      WeightUse w = weightFor(net, p, fpd.weights_desc());
      net.forward.emplace_back(convolution_forward(fpd), std::unordered_map<int, memory>{
                                   {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w.mem}, {DNNL_ARG_BIAS, params[p + 1].w}, {DNNL_ARG_DST, dst}});
      auto makeBww = [&](const memory::desc &wmd) { return api::convBwdWeights(eng, src.get_desc(), wmd, bias(p + 1), dDst.get_desc(), fpd); };
      convolution_backward_weights::primitive_desc wpd = preferMaster(makeBww, params[p].md, anyW(p));
      note((std::string(name) + " bwd-weights").c_str(), wpd.impl_info_str());
      std::vector<Op> layerBwd;
      if (tanhHere) layerBwd.push_back(tanhBackward(dst, dDst, (std::string(name) + " tanh bwd").c_str()));
      layerBwd.emplace_back(convolution_backward_weights(wpd), std::unordered_map<int, memory>{
                                {DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dDst},
                                {DNNL_ARG_DIFF_WEIGHTS, gradFor(net, p, wpd.diff_weights_desc())},
                                {DNNL_ARG_DIFF_BIAS, params[p + 1].g}});
      if (dataGrad) {
        auto makeBwd = [&](const memory::desc &wmd) {
          return preferJit([&]() { return api::convBwdData(eng, dSrc.get_desc(), wmd, dDst.get_desc(), fpd); });
        };
        convolution_backward_data::primitive_desc dpd = preferMaster(makeBwd, params[p].md, anyW(p));
        note((std::string(name) + " bwd-data").c_str(), dpd.impl_info_str());
        WeightUse wb = weightFor(net, p, dpd.weights_desc());
        layerBwd.emplace_back(convolution_backward_data(dpd), std::unordered_map<int, memory>{
                                  {DNNL_ARG_DIFF_DST, dDst}, {DNNL_ARG_WEIGHTS, wb.mem}, {DNNL_ARG_DIFF_SRC, dSrc}});
      }
      backward.insert(backward.begin(), layerBwd.begin(), layerBwd.end());
    };

    // 2x2 average pooling, valid, stride 1 or 2, by hand in both directions: with 6 or 16 channels
    // oneDNN's NHWC pooling is slower than these row passes, which the compiler vectorises. The
    // backward pass is fused with the tanh backward of the conv before: one pass over the gradient.
    auto pool = [&](const memory &src, const memory &dst, const memory &dSrc, const memory &dDst, memory::dim stride, const char *name,
                    std::vector<Op> &backward) {
      const int C = static_cast<int>(api::dimsOf(src.get_desc())[1]), H = static_cast<int>(api::dimsOf(src.get_desc())[2]);
      const int P = static_cast<int>(api::dimsOf(dst.get_desc())[2]), S = static_cast<int>(stride), batch = static_cast<int>(N);
      if (C * H > 1024 || (S != 1 && S != 2) || (P - 1) * S + 2 > H) throw std::runtime_error("pooling: unsupported shape");
      const long inRow = static_cast<long>(H) * C, outRow = static_cast<long>(P) * C;
      const float *x = static_cast<float *>(src.get_data_handle());
      float *p = static_cast<float *>(dst.get_data_handle());
      net.impls.push_back(std::string(name) + ": hand-written");
      net.forward.emplace_back(std::function<void()>([=]() {
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < batch; n++)
          for (int pr = 0; pr < P; pr++) {
            const float *r0 = x + (static_cast<long>(n) * H + pr * S) * inRow, *r1 = r0 + inRow;
            float *out = p + (static_cast<long>(n) * P + pr) * outRow;
            float v[1024];
            for (long k = 0; k < inRow; k++) v[k] = r0[k] + r1[k];
            if (S == 1) {
              for (long j = 0; j < outRow; j++) out[j] = 0.25f * (v[j] + v[j + C]);
            } else {
              for (int pq = 0; pq < P; pq++)
                for (int c = 0; c < C; c++) out[pq * C + c] = 0.25f * (v[2 * pq * C + c] + v[(2 * pq + 1) * C + c]);
            }
          }
      }));
      const float *y = x;
      const float *dp = static_cast<float *>(dDst.get_data_handle());
      float *dz = static_cast<float *>(dSrc.get_data_handle());
      net.impls.push_back(std::string(name) + " bwd + tanh bwd: hand-written");
      backward.insert(backward.begin(), Op([=]() {
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < batch; n++)
          for (int r = 0; r < H; r++) {
            // R: the pool gradient rows whose windows cover input row r, summed.
            float R[1024], h[1024];
            const float *g = dp + static_cast<long>(n) * P * outRow;
            const int lo = S == 1 ? std::max(0, r - 1) : r / 2, hi = S == 1 ? std::min(P - 1, r) : (r / 2 < P ? r / 2 : -1);
            for (long j = 0; j < outRow; j++) R[j] = 0.f;
            for (int pr = lo; pr <= hi; pr++)
              for (long j = 0; j < outRow; j++) R[j] += g[pr * outRow + j];
            // h: spread over the columns each window covers.
            if (S == 1) {
              for (int c = 0; c < C; c++) h[c] = R[c];
              for (long j = C; j < outRow; j++) h[j] = R[j - C] + R[j];
              for (long j = outRow; j < inRow; j++) h[j] = R[j - C];
            } else {
              for (int q = 0; q < H; q++)
                for (int c = 0; c < C; c++) h[q * C + c] = q / 2 < P ? R[(q / 2) * C + c] : 0.f;
            }
            const long at = (static_cast<long>(n) * H + r) * inRow;
            for (long k = 0; k < inRow; k++) dz[at + k] = 0.25f * h[k] * (1.f - y[at + k] * y[at + k]);
          }
      }));
    };

    // Dense layers: the first takes conv3's 4-D NHWC output directly (no flatten); its weights are
    // forced to ohwi on all three passes so that none of them needs a per-step reorder.
    auto dense = [&](int p, const memory &src, const memory &dst, const memory &dSrc, const memory &dDst, bool withTanh, const memory::desc &wmd,
                     const char *name, std::vector<Op> &backward) {
      inner_product_forward::primitive_desc fpd = api::ipFwd(eng, src.get_desc(), wmd, bias(p + 1), dst.get_desc(), withTanh ? tanhAttr : primitive_attr());
      setMaster(p, fpd.weights_desc());
      note(name, fpd.impl_info_str());
      WeightUse w = weightFor(net, p, fpd.weights_desc());
      net.forward.emplace_back(inner_product_forward(fpd), std::unordered_map<int, memory>{
                                   {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w.mem}, {DNNL_ARG_BIAS, params[p + 1].w}, {DNNL_ARG_DST, dst}});
      auto makeBww = [&](const memory::desc &m) { return api::ipBwdWeights(eng, src.get_desc(), m, bias(p + 1), dDst.get_desc(), fpd); };
      inner_product_backward_weights::primitive_desc wpd = preferMaster(makeBww, params[p].md, anyW(p));
      note((std::string(name) + " bwd-weights").c_str(), wpd.impl_info_str());
      auto makeBwd = [&](const memory::desc &m) { return api::ipBwdData(eng, dSrc.get_desc(), m, dDst.get_desc(), fpd); };
      inner_product_backward_data::primitive_desc dpd = preferMaster(makeBwd, params[p].md, anyW(p));
      note((std::string(name) + " bwd-data").c_str(), dpd.impl_info_str());
      WeightUse wb = weightFor(net, p, dpd.weights_desc());
      std::vector<Op> layerBwd;
      if (withTanh) layerBwd.push_back(tanhBackward(dst, dDst, (std::string(name) + " tanh bwd").c_str()));
      layerBwd.emplace_back(inner_product_backward_weights(wpd), std::unordered_map<int, memory>{
                                {DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dDst},
                                {DNNL_ARG_DIFF_WEIGHTS, gradFor(net, p, wpd.diff_weights_desc())}, {DNNL_ARG_DIFF_BIAS, params[p + 1].g}});
      layerBwd.emplace_back(inner_product_backward_data(dpd), std::unordered_map<int, memory>{
                                {DNNL_ARG_DIFF_DST, dDst}, {DNNL_ARG_WEIGHTS, wb.mem}, {DNNL_ARG_DIFF_SRC, dSrc}});
      backward.insert(backward.begin(), layerBwd.begin(), layerBwd.end());
    };

    std::vector<Op> &B = net.backward;
    conv(0, net.x, a1, memory(), da1, false, false, "conv1", B);
    pool(a1, p1, da1, dp1, 1, "pool1", B);
    conv(2, p1, a2, dp1, da2, true, false, "conv2", B);
    pool(a2, p2, da2, dp2, 2, "pool2", B);
    conv(4, p2, a3, dp2, da3, true, true, "conv3", B);
    dense(6, a3, a4, da3, da4, true, memory::desc(PARAM_DIMS[6], dt::f32, tag::ohwi), "dense1", B);
    dense(8, a4, net.logits, da4, net.dLogits, false, anyW(8), "dense2", B);
  }

  // Softmax, Keras' clipped cross-entropy, arg-max hits and dLoss/dlogits = scale·(p − y), with y the
  // one-hot label smoothed towards uniform by `smoothing` (Keras' label_smoothing; the loss stays plain).
  void lossAndLogitGrad(Net &net, const uint8_t *labels, float scale, float smoothing, double &lossSum, int &correct) {
    const float offTarget = smoothing / CLASSES, onTarget = 1.f - smoothing + offTarget;
    const float *z = static_cast<float *>(net.logits.get_data_handle());
    float *dz = static_cast<float *>(net.dLogits.get_data_handle());
    lossSum = 0;
    correct = 0;
    for (int i = 0; i < net.batch; i++) {
      const float *row = z + i * CLASSES;
      float *drow = dz + i * CLASSES;
      float mx = row[0];
      for (int c = 1; c < CLASSES; c++) mx = std::max(mx, row[c]);
      float p[CLASSES], sum = 0;
      for (int c = 0; c < CLASSES; c++) sum += (p[c] = std::exp(row[c] - mx));
      int best = 0;
      const int label = labels[i];
      for (int c = 0; c < CLASSES; c++) {
        p[c] /= sum;
        if (p[c] > p[best]) best = c;
      }
      for (int c = 0; c < CLASSES; c++) drow[c] = scale * (p[c] - (c == label ? onTarget : offTarget));
      if (best == label) correct++;
      lossSum -= std::log(std::min(std::max(p[label], CLIP), 1.f - CLIP));
    }
  }

  void run(std::vector<Op> &ops) {
    for (auto &op : ops) {
      if (op.fn) op.fn();
      else op.prim.execute(strm, op.args);
    }
  }

  void step(Net &net, const float *pixels, const uint8_t *labels, float scale, float smoothing, double &lossSum, int &correct) {
    omp_set_num_threads(net.threads);
    net.x.set_data_handle(const_cast<float *>(pixels));
    for (auto &[from, to] : net.preReorders) reorder(from, to).execute(strm, from, to);
    run(net.forward);
    strm.wait();
    lossAndLogitGrad(net, labels, scale, smoothing, lossSum, correct);
    run(net.backward);
    for (auto &[from, to] : net.postReorders) reorder(from, to).execute(strm, from, to);
    strm.wait();
  }

  // Forward pass and loss only (evaluation): no backward pass, the gradients are left as they were.
  void forward(Net &net, const float *pixels, const uint8_t *labels, double &lossSum, int &correct) {
    omp_set_num_threads(net.threads);
    net.x.set_data_handle(const_cast<float *>(pixels));
    for (auto &[from, to] : net.preReorders) reorder(from, to).execute(strm, from, to);
    run(net.forward);
    strm.wait();
    lossAndLogitGrad(net, labels, 0.f, 0.f, lossSum, correct);
  }

  // tf.AdamOptimizer's update in its float32 order (as shared/heap-simd.wat):
  //   m = b1·m + (1 − b1)·g;  v = b2·v + (1 − b2)·g·g;  w −= step·m / (√(v·inv2) + eps)
  void adam(float b1, float b2, float stepSize, float inv2, float eps) {
    const float ob1 = 1.f - b1, ob2 = 1.f - b2;
    for (int p = 0; p < NUM_PARAMS; p++) {
      float *w = static_cast<float *>(params[p].w.get_data_handle());
      float *m = static_cast<float *>(params[p].m.get_data_handle());
      float *v = static_cast<float *>(params[p].v.get_data_handle());
      const float *g = static_cast<float *>(params[p].g.get_data_handle());
      const long n = static_cast<long>(params[p].size());
#pragma omp parallel for simd if (n > 16384) schedule(static)
      for (long i = 0; i < n; i++) {
        const float mi = b1 * m[i] + ob1 * g[i];
        const float vi = b2 * v[i] + (ob2 * g[i]) * g[i];
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] - (stepSize * mi) / (std::sqrt(vi * inv2) + eps);
      }
    }
  }

  memory &buffer(int p, int kind) {
    switch (kind) {
      case WEIGHT: return params[p].w;
      case M: return params[p].m;
      case V: return params[p].v;
      default: return params[p].g;
    }
  }

  // Copies a parameter (weights, a moment or the last gradient) between its master layout and a Keras-layout array.
  void transfer(int p, int kind, float *keras, bool toKeras) {
    memory user(memory::desc(PARAM_DIMS[p], dt::f32, KERAS_TAG[p]), eng, keras);
    memory &mine = buffer(p, kind);
    if (toKeras) reorder(mine, user).execute(strm, mine, user);
    else reorder(user, mine).execute(strm, user, mine);
    strm.wait();
  }
};

class Addon : public Napi::ObjectWrap<Addon> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "LeNetTrainer",
                                     {InstanceMethod("prepare", &Addon::Prepare), InstanceMethod("step", &Addon::Step),
                                      InstanceMethod("adam", &Addon::Adam),
                                      InstanceMethod("evaluate", &Addon::Evaluate), InstanceMethod("getParam", &Addon::GetParam),
                                      InstanceMethod("setParam", &Addon::SetParam), InstanceMethod("paramSize", &Addon::ParamSize),
                                      InstanceMethod("describe", &Addon::Describe)});
    exports.Set("LeNetTrainer", cls);
    exports.Set("dnnlVersion", Napi::String::New(env, std::to_string(DNNL_VERSION_MAJOR) + "." + std::to_string(DNNL_VERSION_MINOR) + "." +
                                                          std::to_string(DNNL_VERSION_PATCH)));
    // The library the loader found at run time (the rpath's), which must be the one compiled against.
    const dnnl_version_t *loaded = dnnl_version();
    exports.Set("dnnlLoaded", Napi::String::New(env, std::to_string(loaded->major) + "." + std::to_string(loaded->minor) + "." +
                                                         std::to_string(loaded->patch)));
    exports.Set("maxThreads", Napi::Function::New(env, [](const Napi::CallbackInfo &info) {
                  return Napi::Number::New(info.Env(), omp_get_num_procs());
                }));
    return exports;
  }

  explicit Addon(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Addon>(info) {}

 private:
  Trainer t;

  template <typename F>
  Napi::Value guard(const Napi::CallbackInfo &info, F f) {
    try {
      return f();
    } catch (const dnnl::error &e) {
      throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what() + " (status " + std::to_string(static_cast<int>(e.status)) + ")");
    }
  }

  static int intArg(const Napi::CallbackInfo &info, size_t i, int lo, int hi, const char *what) {
    if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
    int v = info[i].As<Napi::Number>().Int32Value();
    if (v < lo || v > hi) throw Napi::RangeError::New(info.Env(), std::string(what) + " out of range");
    return v;
  }

  // prepare(batch, threads): builds the primitives for that shape now (the first call fixes the master layouts).
  Napi::Value Prepare(const Napi::CallbackInfo &info) {
    int batch = intArg(info, 0, 1, 65536, "batch"), threads = intArg(info, 1, 1, 256, "threads");
    return guard(info, [&]() -> Napi::Value {
      t.netFor(batch, threads);
      return info.Env().Undefined();
    });
  }

  // step(pixels: Float32Array, labels: Uint8Array, threads, scale[, smoothing]) -> [lossSum, correct]; leaves the gradients in place.
  Napi::Value Step(const Napi::CallbackInfo &info) { return Run(info, true); }
  // evaluate(pixels, labels, threads) -> [lossSum, correct]: the forward pass only.
  Napi::Value Evaluate(const Napi::CallbackInfo &info) { return Run(info, false); }

  Napi::Value Run(const Napi::CallbackInfo &info, bool training) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(info.Env(), "pixels must be a Float32Array");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw Napi::TypeError::New(info.Env(), "labels must be a Uint8Array");
    auto pixels = info[0].As<Napi::Float32Array>();
    auto labels = info[1].As<Napi::Uint8Array>();
    int threads = intArg(info, 2, 1, 256, "threads");
    float scale = training ? info[3].As<Napi::Number>().FloatValue() : 0.f;
    float smoothing = training && info.Length() > 4 ? info[4].As<Napi::Number>().FloatValue() : 0.f;
    if (!(smoothing >= 0.f && smoothing <= 1.f)) throw Napi::RangeError::New(info.Env(), "smoothing must be from 0 to 1");
    const int n = static_cast<int>(labels.ElementLength());
    if (n < 1 || pixels.ElementLength() != static_cast<size_t>(n) * PIXELS)
      throw Napi::RangeError::New(info.Env(), "pixels must hold 784 floats per label");
    for (int i = 0; i < n; i++)
      if (labels[i] >= CLASSES) throw Napi::RangeError::New(info.Env(), "labels must be 0-9");
    return guard(info, [&]() -> Napi::Value {
      Net &net = t.netFor(n, threads);
      double lossSum;
      int correct;
      if (training) t.step(net, pixels.Data(), labels.Data(), scale, smoothing, lossSum, correct);
      else t.forward(net, pixels.Data(), labels.Data(), lossSum, correct);
      Napi::Array out = Napi::Array::New(info.Env(), 2);
      out.Set(0u, lossSum);
      out.Set(1u, correct);
      return out;
    });
  }

  // adam(beta1, beta2, step, inv2, epsilon, threads): applies the last step's gradients.
  Napi::Value Adam(const Napi::CallbackInfo &info) {
    auto f = [&](size_t i) { return info[i].As<Napi::Number>().FloatValue(); };
    omp_set_num_threads(intArg(info, 5, 1, 256, "threads"));
    t.adam(f(0), f(1), f(2), f(3), f(4));
    return info.Env().Undefined();
  }

  Napi::Value Transfer(const Napi::CallbackInfo &info, bool toKeras) {
    if (!t.mastersSet) throw Napi::Error::New(info.Env(), "call prepare() first");
    int p = intArg(info, 0, 0, NUM_PARAMS - 1, "param"), kind = intArg(info, 1, 0, 3, "kind");
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(info.Env(), "values must be a Float32Array");
    auto arr = info[2].As<Napi::Float32Array>();
    size_t want = 1;
    for (auto d : PARAM_DIMS[p]) want *= d;
    if (arr.ElementLength() != want) throw Napi::RangeError::New(info.Env(), "array size does not match the parameter");
    return guard(info, [&]() -> Napi::Value {
      t.transfer(p, kind, arr.Data(), toKeras);
      return info.Env().Undefined();
    });
  }
  Napi::Value GetParam(const Napi::CallbackInfo &info) { return Transfer(info, true); }
  Napi::Value SetParam(const Napi::CallbackInfo &info) { return Transfer(info, false); }

  Napi::Value ParamSize(const Napi::CallbackInfo &info) {
    int p = intArg(info, 0, 0, NUM_PARAMS - 1, "param");
    return Napi::Number::New(info.Env(), static_cast<double>(t.params[p].size()));
  }

  // describe(): the implementation of every primitive and the per-step reorders, per built shape.
  Napi::Value Describe(const Napi::CallbackInfo &info) {
    std::string s;
    for (auto &[key, net] : t.nets) {
      s += "batch " + std::to_string(key.first) + ", " + std::to_string(key.second) + " thread(s): " +
           std::to_string(net->preReorders.size()) + " weight reorders, " + std::to_string(net->postReorders.size()) + " gradient reorders\n";
      for (auto &line : net->impls) s += "  " + line + "\n";
    }
    return Napi::String::New(info.Env(), s);
  }
};

}  // namespace

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return Addon::Init(env, exports); }

NODE_API_MODULE(lenet_native, InitAll)
