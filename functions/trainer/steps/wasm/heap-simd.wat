;; Small SIMD loops that run directly on the tfjs wasm backend's heap: the memory is imported
;; from that backend's module, every pointer is a byte offset into it (a tensor's
;; `typedArrayFromHeap(t).byteOffset`), every count is in float32 elements.
;;
;; Why: these passes used to be JS loops over heap views (~2-6 ns/element); here they are
;; f32x4 loops (~0.2-0.5 ns/element). Built into heap-simd-binary.ts by `npm run build:wasm`.
(module
  (import "env" "memory" (memory 1))

  ;; dst[i] += src[i] for i < n
  (func (export "addInto") (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32) (local $end4 i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $dst) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $dst) (local.get $end4)))
        (v128.store align=4 (local.get $dst)
          (f32x4.add (v128.load align=4 (local.get $dst)) (v128.load align=4 (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $l4)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $l))))

  ;; One Adam step over n weights, in tf.AdamOptimizer's float32 order:
  ;;   m = b1·m + (1 − b1)·g;  v = b2·v + (1 − b2)·g²;  out = w − step·m / (√(v·inv2) + eps)
  ;; with step = lr / (1 − b1^t) and inv2 = 1 / (1 − b2^t). m and v are updated in place.
  (func (export "adam")
    (param $w i32) (param $out i32) (param $m i32) (param $v i32) (param $g i32) (param $n i32)
    (param $b1 f32) (param $b2 f32) (param $step f32) (param $inv2 f32) (param $eps f32)
    (local $i i32) (local $n4 i32)
    (local $B1 v128) (local $B2 v128) (local $OB1 v128) (local $OB2 v128)
    (local $STEP v128) (local $INV2 v128) (local $EPS v128)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $OB1 (f32x4.splat (f32.sub (f32.const 1) (local.get $b1))))
    (local.set $OB2 (f32x4.splat (f32.sub (f32.const 1) (local.get $b2))))
    (local.set $STEP (f32x4.splat (local.get $step)))
    (local.set $INV2 (f32x4.splat (local.get $inv2)))
    (local.set $EPS (f32x4.splat (local.get $eps)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $gv (v128.load align=4 (local.get $g)))
        (local.set $mv (f32x4.add
          (f32x4.mul (local.get $B1) (v128.load align=4 (local.get $m)))
          (f32x4.mul (local.get $OB1) (local.get $gv))))
        (local.set $vv (f32x4.add
          (f32x4.mul (local.get $B2) (v128.load align=4 (local.get $v)))
          (f32x4.mul (f32x4.mul (local.get $OB2) (local.get $gv)) (local.get $gv))))
        (v128.store align=4 (local.get $m) (local.get $mv))
        (v128.store align=4 (local.get $v) (local.get $vv))
        (v128.store align=4 (local.get $out)
          (f32x4.sub (v128.load align=4 (local.get $w))
            (f32x4.div (f32x4.mul (local.get $STEP) (local.get $mv))
              (f32x4.add (f32x4.sqrt (f32x4.mul (local.get $vv) (local.get $INV2))) (local.get $EPS)))))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $m (i32.add (local.get $m) (i32.const 16)))
        (local.set $v (i32.add (local.get $v) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l4)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $gs (f32.load (local.get $g)))
        (local.set $ms (f32.add
          (f32.mul (local.get $b1) (f32.load (local.get $m)))
          (f32.mul (f32.sub (f32.const 1) (local.get $b1)) (local.get $gs))))
        (local.set $vs (f32.add
          (f32.mul (local.get $b2) (f32.load (local.get $v)))
          (f32.mul (f32.mul (f32.sub (f32.const 1) (local.get $b2)) (local.get $gs)) (local.get $gs))))
        (f32.store (local.get $m) (local.get $ms))
        (f32.store (local.get $v) (local.get $vs))
        (f32.store (local.get $out)
          (f32.sub (f32.load (local.get $w))
            (f32.div (f32.mul (local.get $step) (local.get $ms))
              (f32.add (f32.sqrt (f32.mul (local.get $vs) (local.get $inv2))) (local.get $eps)))))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $m (i32.add (local.get $m) (i32.const 4)))
        (local.set $v (i32.add (local.get $v) (i32.const 4)))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))

  ;; dz[i] = dy[i] · (1 − y[i]²): the tanh derivative from its output y.
  (func (export "tanhGrad") (param $dz i32) (param $y i32) (param $dy i32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $yv v128) (local $ys f32)
    (local.set $end (i32.add (local.get $dz) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $dz) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $dz) (local.get $end4)))
        (local.set $yv (v128.load align=4 (local.get $y)))
        (v128.store align=4 (local.get $dz)
          (f32x4.mul (v128.load align=4 (local.get $dy))
            (f32x4.sub (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $yv) (local.get $yv)))))
        (local.set $dz (i32.add (local.get $dz) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
        (br $l4)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $dz) (local.get $end)))
        (local.set $ys (f32.load (local.get $y)))
        (f32.store (local.get $dz)
          (f32.mul (f32.load (local.get $dy)) (f32.sub (f32.const 1) (f32.mul (local.get $ys) (local.get $ys)))))
        (local.set $dz (i32.add (local.get $dz) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
        (br $l))))

  ;; dst[c] = Σ_r src[r·cols + c] for c < cols (a bias gradient: the sum over all but the last axis).
  (func (export "columnSum") (param $dst i32) (param $src i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $cols4 i32) (local $d i32)
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $c (i32.const 0))
    (block $zeroed
      (loop $z
        (br_if $zeroed (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store (i32.add (local.get $dst) (i32.shl (local.get $c) (i32.const 2))) (f32.const 0))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $z)))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $d (local.get $dst))
        (local.set $c (i32.const 0))
        (block $done4
          (loop $l4
            (br_if $done4 (i32.ge_u (local.get $c) (local.get $cols4)))
            (v128.store align=4 (local.get $d)
              (f32x4.add (v128.load align=4 (local.get $d)) (v128.load align=4 (local.get $src))))
            (local.set $d (i32.add (local.get $d) (i32.const 16)))
            (local.set $src (i32.add (local.get $src) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $l4)))
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $c) (local.get $cols)))
            (f32.store (local.get $d) (f32.add (f32.load (local.get $d)) (f32.load (local.get $src))))
            (local.set $d (i32.add (local.get $d) (i32.const 4)))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $l)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))
)
