;; The merge arithmetic of Merge Studio in WebAssembly SIMD (128-bit), bit for bit the numeric
;; contract of src/core/engine/mergeChunk.ts (see ARCHITECTURE.md, "Numeric contract"):
;;   widen t, p, m to float32 (exact); d = fl32(p - m); s = fl32(d * a); r = fl32(t + s);
;;   round r to the output dtype, nearest even; overflow gives +-Inf; any NaN becomes the
;;   canonical quiet NaN (BF16 0x7fc0, F16 0x7e00, F32 0x7fc00000).
;; Compiled by `npm run build:wasm` (scripts/build-wasm.ts) into mergeKernelWasm.ts.
;;
;; Dtype codes: 0 = BF16, 1 = F16, 2 = F32. Elements are little-endian, as in safetensors.
;; Loops work on 4 or 8 elements at a time: callers give each region room for n rounded up to a
;; multiple of 8 elements. Up to 7 elements past n are read (their values do not matter) and
;; written (garbage the caller ignores), which spares a scalar copy of every conversion.
;; Any dtype mix goes block by block through float32 scratch blocks that stay in the L1 cache:
;; one pass widens each input, one merges, one narrows. All-BF16 merges, the common case, take one
;; fused loop instead, measured 1.7x faster than the passes. The fused loop repeats the rounding
;; code of $narrow rather than calling a function: V8 (Node 20) does not inline wasm calls, and a
;; call per vector cost 3x.
(module
  (memory (export "memory") 1)

  ;; Elements per scratch block; four float32 blocks of it (32 KiB) fit in L1.
  (global $BLOCK i32 (i32.const 2048))
  (global $SCRATCH_T i32 (i32.const 0))
  (global $SCRATCH_P i32 (i32.const 8192))
  (global $SCRATCH_M i32 (i32.const 16384))
  (global $SCRATCH_OUT i32 (i32.const 24576))
  ;; First byte callers may use for their data; everything below is scratch.
  (global (export "dataStart") i32 (i32.const 32768))

  ;; Bytes per element of a dtype code.
  (func $width (param $dtype i32) (result i32)
    (select (i32.const 4) (i32.const 2) (i32.eq (local.get $dtype) (i32.const 2))))

  ;; Widens n elements at $src to float32 and returns where they are: $dst, or $src itself for F32.
  ;; BF16 is the high half of a float32. F16: sign, exponent and mantissa moved to their float32
  ;; positions read as a float32 that is 2^112 too small (normal halves land on a normal float32 of
  ;; the same mantissa, subnormal halves on a subnormal float32); the product by 2^112 is exact
  ;; because the true value is representable, and WebAssembly keeps subnormals (no flush to zero).
  ;; Inf and NaN (exponent 31) come out as +-2^16 * 1.mantissa, given exponent 255 by an OR.
  (func $widen (param $dtype i32) (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $i i32)
    (local $h v128)
    (if (i32.eq (local.get $dtype) (i32.const 2)) (then (return (local.get $src))))
    (if (i32.eqz (local.get $dtype))
      (then
        (loop $bf16
          (v128.store
            (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
            (i32x4.shl
              (v128.load16x4_u (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1))))
              (i32.const 16)))
          (br_if $bf16 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $n)))))
      (else
        (loop $f16
          (local.set $h (v128.load16x4_u (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))))
          (v128.store
            (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
            (v128.or
              ;; (h << 16) >> 3, arithmetic: the sign stays in bit 31, exponent and mantissa move to bits 13..27.
              (f32x4.mul
                (v128.and
                  (i32x4.shr_s (i32x4.shl (local.get $h) (i32.const 16)) (i32.const 3))
                  (v128.const i32x4 0x8fffe000 0x8fffe000 0x8fffe000 0x8fffe000))
                (v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000))
              (v128.and
                (i32x4.gt_s
                  (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                  (v128.const i32x4 0x7bff 0x7bff 0x7bff 0x7bff))
                (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
          (br_if $f16 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $n))))))
    (local.get $dst))

  ;; out = t + (p - m) * a, as three separate float32 operations. WebAssembly rounds every
  ;; instruction to float32 on its own: engines may not fuse a multiply and an add, nor reorder.
  (func $mergeBlock (param $t i32) (param $p i32) (param $m i32) (param $out i32) (param $n i32) (param $a v128)
    (local $offset i32)
    (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (loop $elements
      (v128.store
        (i32.add (local.get $out) (local.get $offset))
        (f32x4.add
          (v128.load (i32.add (local.get $t) (local.get $offset)))
          (f32x4.mul
            (f32x4.sub
              (v128.load (i32.add (local.get $p) (local.get $offset)))
              (v128.load (i32.add (local.get $m) (local.get $offset))))
            (local.get $a))))
      (br_if $elements (i32.lt_u (local.tee $offset (i32.add (local.get $offset) (i32.const 16))) (local.get $end)))))

  ;; Rounds n float32 values at $src to $dtype at $dst, nearest even, in integer arithmetic.
  (func $narrow (param $dtype i32) (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32)
    (local $x v128)
    (local $abs v128)
    (if (i32.eq (local.get $dtype) (i32.const 2))
      (then
        (loop $f32
          (local.set $x (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
          (v128.store
            (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
            (v128.bitselect
              (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000)
              (local.get $x)
              (f32x4.ne (local.get $x) (local.get $x))))
          (br_if $f32 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $n))))
        (return)))
    (if (i32.eqz (local.get $dtype))
      (then
        ;; (bits + 0x7fff + lsb) >> 16: adding just under half an ulp, plus the kept lsb, carries
        ;; into the kept bits exactly when the dropped half is above a tie, or a tie with odd lsb;
        ;; a carry out of the mantissa steps the exponent, up to Inf on overflow.
        (loop $bf16
          (local.set $x (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $x
            (v128.bitselect
              (v128.const i32x4 0x7fc0 0x7fc0 0x7fc0 0x7fc0)
              (i32x4.shr_u
                (i32x4.add
                  (i32x4.add (local.get $x) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                  (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
                (i32.const 16))
              (f32x4.ne (local.get $x) (local.get $x))))
          (v128.store64_lane 0
            (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
            (i16x8.narrow_i32x4_u (local.get $x) (local.get $x)))
          (br_if $bf16 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $n))))
        (return)))
    ;; F16. Normal range: rebias the exponent (127 - 15 = 112, i.e. subtract 0x38000000) and round
    ;; away 13 mantissa bits as for BF16; from 65520 (0x477ff000) up this gives 0x7c00 or more,
    ;; clamped to 0x7c00 (Inf). Below 2^-14 (subnormal halves), |x| + 0.5 in float32: the sum lies
    ;; in [0.5, 1), where float32's spacing is 2^-24, the subnormal half's unit, and 0.5 has a zero
    ;; mantissa, so the one correctly rounded addition leaves round(|x| / 2^-24), ties to even, in
    ;; the sum's mantissa bits (1024 = 0x400 when it rounds up to the smallest normal half).
    ;; |x| has bit 31 clear, so signed comparisons (one x86 instruction each) order it correctly.
    (loop $f16
      (local.set $x (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $abs (v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
      (local.set $x
        (v128.bitselect
          (v128.const i32x4 0x7e00 0x7e00 0x7e00 0x7e00)
          (v128.or
            (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))
            (v128.bitselect
              (i32x4.sub
                (f32x4.add (local.get $abs) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000))
              (i32x4.min_u
                (i32x4.shr_u
                  (i32x4.add
                    (i32x4.sub (local.get $abs) (v128.const i32x4 0x37fff001 0x37fff001 0x37fff001 0x37fff001))
                    (v128.and (i32x4.shr_u (local.get $abs) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                  (i32.const 13))
                (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
              (i32x4.lt_s (local.get $abs) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))))
          (i32x4.gt_s (local.get $abs) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
      (v128.store64_lane 0
        (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
        (i16x8.narrow_i32x4_u (local.get $x) (local.get $x)))
      (br_if $f16 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $n)))))

  ;; $mergeBlock with $narrow to BF16 and $widen of BF16 inputs in one loop, 8 elements at a time:
  ;; a shuffle with a zero vector widens 4 BF16 values (the BF16 bits become the high halves).
  (func $mergeBf16 (param $t i32) (param $p i32) (param $m i32) (param $out i32) (param $n i32) (param $a v128)
    (local $offset i32)
    (local $end i32)
    (local $tv v128)
    (local $pv v128)
    (local $mv v128)
    (local $x v128)
    (local $low v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 1)))
    (loop $elements
      (local.set $tv (v128.load (i32.add (local.get $t) (local.get $offset))))
      (local.set $pv (v128.load (i32.add (local.get $p) (local.get $offset))))
      (local.set $mv (v128.load (i32.add (local.get $m) (local.get $offset))))
      (local.set $x
        (f32x4.add
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $tv))
          (f32x4.mul
            (f32x4.sub
              (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $pv))
              (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $mv)))
            (local.get $a))))
      (local.set $low
        (v128.bitselect
          (v128.const i32x4 0x7fc0 0x7fc0 0x7fc0 0x7fc0)
          (i32x4.shr_u
            (i32x4.add
              (i32x4.add (local.get $x) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
              (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
            (i32.const 16))
          (f32x4.ne (local.get $x) (local.get $x))))
      (local.set $x
        (f32x4.add
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $tv))
          (f32x4.mul
            (f32x4.sub
              (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $pv))
              (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $mv)))
            (local.get $a))))
      (v128.store
        (i32.add (local.get $out) (local.get $offset))
        (i16x8.narrow_i32x4_u
          (local.get $low)
          (v128.bitselect
            (v128.const i32x4 0x7fc0 0x7fc0 0x7fc0 0x7fc0)
            (i32x4.shr_u
              (i32x4.add
                (i32x4.add (local.get $x) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
              (i32.const 16))
            (f32x4.ne (local.get $x) (local.get $x)))))
      (br_if $elements (i32.lt_u (local.tee $offset (i32.add (local.get $offset) (i32.const 16))) (local.get $end)))))

  ;; Merges n elements: target, plus and minus at their offsets, each of its own dtype, into
  ;; $outType at $out. The f32 parameter rounds alpha to float32 on the way in (JS API: ToNumber,
  ;; then nearest even), which is the contract's a = fl32(alpha).
  (func (export "merge")
    (param $tType i32) (param $t i32) (param $pType i32) (param $p i32) (param $mType i32) (param $m i32)
    (param $outType i32) (param $out i32) (param $n i32) (param $alpha f32)
    (local $start i32)
    (local $count i32)
    (local $a v128)
    (local.set $a (f32x4.splat (local.get $alpha)))
    ;; The fused loop, like every element loop here, runs at least once.
    (if (i32.eqz (local.get $n)) (then (return)))
    (if (i32.eqz (i32.or (i32.or (local.get $tType) (local.get $pType)) (i32.or (local.get $mType) (local.get $outType))))
      (then
        (call $mergeBf16 (local.get $t) (local.get $p) (local.get $m) (local.get $out) (local.get $n) (local.get $a))
        (return)))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $start) (local.get $n)))
        (local.set $count (select (global.get $BLOCK) (i32.sub (local.get $n) (local.get $start))
          (i32.gt_u (i32.sub (local.get $n) (local.get $start)) (global.get $BLOCK))))
        (call $mergeBlock
          (call $widen (local.get $tType) (i32.add (local.get $t) (i32.mul (local.get $start) (call $width (local.get $tType))))
            (global.get $SCRATCH_T) (local.get $count))
          (call $widen (local.get $pType) (i32.add (local.get $p) (i32.mul (local.get $start) (call $width (local.get $pType))))
            (global.get $SCRATCH_P) (local.get $count))
          (call $widen (local.get $mType) (i32.add (local.get $m) (i32.mul (local.get $start) (call $width (local.get $mType))))
            (global.get $SCRATCH_M) (local.get $count))
          (global.get $SCRATCH_OUT) (local.get $count) (local.get $a))
        (call $narrow (local.get $outType) (global.get $SCRATCH_OUT)
          (i32.add (local.get $out) (i32.mul (local.get $start) (call $width (local.get $outType)))) (local.get $count))
        (local.set $start (i32.add (local.get $start) (global.get $BLOCK)))
        (br $blocks))))

  ;; Converts n elements of $inType at $in to $outType at $out (widen exactly, round nearest even).
  (func (export "convert") (param $inType i32) (param $in i32) (param $outType i32) (param $out i32) (param $n i32)
    (local $start i32)
    (local $count i32)
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $start) (local.get $n)))
        (local.set $count (select (global.get $BLOCK) (i32.sub (local.get $n) (local.get $start))
          (i32.gt_u (i32.sub (local.get $n) (local.get $start)) (global.get $BLOCK))))
        (call $narrow (local.get $outType)
          (call $widen (local.get $inType) (i32.add (local.get $in) (i32.mul (local.get $start) (call $width (local.get $inType))))
            (global.get $SCRATCH_T) (local.get $count))
          (i32.add (local.get $out) (i32.mul (local.get $start) (call $width (local.get $outType)))) (local.get $count))
        (local.set $start (i32.add (local.get $start) (global.get $BLOCK)))
        (br $blocks)))))
