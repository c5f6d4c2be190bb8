;; The merge arithmetic of Merge Studio in WebAssembly SIMD (128-bit), bit for bit the numeric
;; contract of src/core/engine/mergeChunk.ts (see ARCHITECTURE.md, "Numeric contract") in `merge`
;; and `convert`:
;;   widen t, p, m to float32 (exact); d = fl32(p - m); s = fl32(d * a); r = fl32(t + s);
;;   round r to the output dtype, nearest even; overflow gives +-Inf; any NaN becomes the
;;   canonical quiet NaN (BF16 0x7fc0, F16 0x7e00, F32 0x7fc00000);
;; and bit for bit recipe v2 (../shared/recipe-v2.md, src/core/recipe/mergeRecipeChunk.ts) in the
;; `recipe*` functions at the end, which createWasmRecipeKernel.ts drives block by block.
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

  ;; Elements per scratch block of merge and convert; four float32 blocks of it (32 KiB) fit in L1.
  (global $BLOCK i32 (i32.const 2048))
  (global $SCRATCH_T i32 (i32.const 0))
  (global $SCRATCH_P i32 (i32.const 8192))
  (global $SCRATCH_M i32 (i32.const 16384))
  (global $SCRATCH_OUT i32 (i32.const 24576))
  ;; The recipe functions' blocks: 4096 elements, 16 KiB of float32 each (L2 resident).
  (global $RECIPE_BLOCK (export "recipeBlockElements") i32 (i32.const 4096))
  ;; Widened target, plus and minus, and r before its rounding to the output dtype.
  (global $RECIPE_T i32 (i32.const 32768))
  (global $RECIPE_P i32 (i32.const 49152))
  (global $RECIPE_M i32 (i32.const 65536))
  (global $RECIPE_OUT i32 (i32.const 81920))
  ;; The accumulators: the included terms' sum, the election's sum S, the included weights' sum D.
  (global $MIXED i32 (i32.const 98304))
  (global $SUM i32 (i32.const 114688))
  (global $DIVISOR i32 (i32.const 131072))
  ;; The hash H of the block's elements (uint32) for the control's sign flips, and for DARE's keep.
  (global $HASH i32 (i32.const 147456))
  (global $HASH_KEEP i32 (i32.const 163840))
  ;; Where s_j is added when it is only kept in its slot: nobody reads it.
  (global $DISCARD i32 (i32.const 180224))
  ;; Slots of one block for the terms' s_j: slot k at $SLOTS + (k << $SLOT_SHIFT).
  (global $SLOTS i32 (i32.const 196608))
  (global $SLOT_SHIFT i32 (i32.const 14))
  (global (export "recipeSlots") i32 (i32.const 8))
  ;; Four regions of 16384 elements of up to 4 bytes (target, plus, minus, output), where callers
  ;; of the recipe functions copy inputs that do not lie in this memory and read outputs back.
  (global (export "recipeStaging") i32 (i32.const 327680))
  (global (export "stagingElements") i32 (i32.const 16384))
  ;; First byte callers may use for their data; everything below is scratch.
  (global (export "dataStart") i32 (i32.const 589824))

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
        (br $blocks))))

  ;; Recipe v2, steps 2-8 on one block of n elements (0 < n <= recipeBlockElements; lanes past n
  ;; compute garbage that nobody reads). Per block the caller runs recipeBegin, then recipeTerm for
  ;; each term in recipe order (and, with consensus, recipeInclude for each after all of them),
  ;; then recipeFinish. Each step is a pass of its own over float32 blocks in scratch memory (L1/L2
  ;; resident), with no branch inside a loop. The accumulators start at -0, which leaves the first
  ;; value added exactly as it is (-0 + x = x for every x), so "the first included s_j, then
  ;; fl32(mixed + s_j)" needs no flag; with no term included mixed stays -0, so r = fl32(t + -0) = t,
  ;; and D stays -0, which skips the division as D = 0 does.

  ;; H(prefix, e) = pcg(pcg(prefix + e_lo) + e_hi) of the block's elements into $to, where
  ;; prefix = pcg(pcg(pcg(seed ^ key) + stream) + j) and the element at position i is
  ;; e = $elementHigh * 2^32 + $elementLow + i (a carry out of the low word steps the high word).
  ;; pcg is written out twice rather than called: V8 does not inline wasm calls, and a call per
  ;; vector costs more than the hash. WebAssembly has no per-lane shift count, so
  ;; s >> ((s >> 28) + 4) is the high word of the 64-bit product s * 2^(28 - (s >> 28)); the
  ;; factor is made exactly as the float32 of exponent 28 - (s >> 28) (bits (155 - k) << 23),
  ;; truncated to an integer. This measured 1.2x faster per hashed term than shifting s >> 4 further
  ;; by 1, 2, 4 and 8 under masks made from bits 28 to 31.
  (func $hashBlock (param $to i32) (param $prefix i32) (param $elementLow i32) (param $elementHigh i32) (param $n i32)
    (local $o i32)
    (local $end i32)
    (local $index v128)
    (local $low v128)
    (local $firstLow v128)
    (local $x v128)
    (local $s v128)
    (local $shifted v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $firstLow (i32x4.splat (local.get $elementLow)))
    (local.set $index (v128.const i32x4 0 1 2 3))
    (local.set $o (i32.const 0))
    (loop $elements
      (local.set $low (i32x4.add (local.get $firstLow) (local.get $index)))
      (local.set $x (i32x4.add (i32x4.splat (local.get $prefix)) (local.get $low)))
      ;; pcg: s = x * 747796405 + 2891336453; w = ((s >> ((s >> 28) + 4)) ^ s) * 277803737; (w >> 22) ^ w
      (local.set $s (i32x4.add (i32x4.mul (local.get $x) (v128.const i32x4 0x2c9277b5 0x2c9277b5 0x2c9277b5 0x2c9277b5)) (v128.const i32x4 0xac564b05 0xac564b05 0xac564b05 0xac564b05)))
      (local.set $shifted (i32x4.trunc_sat_f32x4_s
        (i32x4.shl (i32x4.sub (v128.const i32x4 155 155 155 155) (i32x4.shr_u (local.get $s) (i32.const 28))) (i32.const 23))))
      (local.set $shifted (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31
        (i64x2.extmul_low_i32x4_u (local.get $s) (local.get $shifted))
        (i64x2.extmul_high_i32x4_u (local.get $s) (local.get $shifted))))
      (local.set $x (i32x4.mul (v128.xor (local.get $shifted) (local.get $s)) (v128.const i32x4 0x108ef2d9 0x108ef2d9 0x108ef2d9 0x108ef2d9)))
      (local.set $x (v128.xor (i32x4.shr_u (local.get $x) (i32.const 22)) (local.get $x)))
      ;; lt_u gives -1 in the lanes whose low word wrapped: subtracting it adds the carry.
      (local.set $x
        (i32x4.add (local.get $x)
          (i32x4.sub (i32x4.splat (local.get $elementHigh)) (i32x4.lt_u (local.get $low) (local.get $firstLow)))))
      ;; pcg: s = x * 747796405 + 2891336453; w = ((s >> ((s >> 28) + 4)) ^ s) * 277803737; (w >> 22) ^ w
      (local.set $s (i32x4.add (i32x4.mul (local.get $x) (v128.const i32x4 0x2c9277b5 0x2c9277b5 0x2c9277b5 0x2c9277b5)) (v128.const i32x4 0xac564b05 0xac564b05 0xac564b05 0xac564b05)))
      (local.set $shifted (i32x4.trunc_sat_f32x4_s
        (i32x4.shl (i32x4.sub (v128.const i32x4 155 155 155 155) (i32x4.shr_u (local.get $s) (i32.const 28))) (i32.const 23))))
      (local.set $shifted (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31
        (i64x2.extmul_low_i32x4_u (local.get $s) (local.get $shifted))
        (i64x2.extmul_high_i32x4_u (local.get $s) (local.get $shifted))))
      (local.set $x (i32x4.mul (v128.xor (local.get $shifted) (local.get $s)) (v128.const i32x4 0x108ef2d9 0x108ef2d9 0x108ef2d9 0x108ef2d9)))
      (local.set $x (v128.xor (i32x4.shr_u (local.get $x) (i32.const 22)) (local.get $x)))
      (v128.store (i32.add (local.get $to) (local.get $o)) (local.get $x))
      (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
      (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end)))))

  ;; Sets the block's accumulators (mixed, S, D) to -0.
  (func (export "recipeBegin") (param $n i32)
    (local $o i32)
    (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (loop $elements
      (v128.store (i32.add (global.get $MIXED) (local.get $o)) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
      (v128.store (i32.add (global.get $SUM) (local.get $o)) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
      (v128.store (i32.add (global.get $DIVISOR) (local.get $o)) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
      (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end)))))

  ;; Steps 1-4 for one term: s_j of the block's elements, the block's first element being
  ;; e = $elementHigh * 2^32 + $elementLow. With $accumulate 1, s_j is added to mixed (no
  ;; consensus: every term is included), and not kept; otherwise it is kept in slot $slot, and
  ;; with $accumulate 2 added to S (the election's sum).
  ;;   $flip: the random_sign control, bit 31 of H($flipPrefix, e) flips v's sign.
  ;;   $keep 1, magnitude: kept when in the top `to` of the order and not in the top `from`; in
  ;;     the top of a cut when the order key (|v|'s bits, every NaN one above +Inf) is above its
  ;;     pattern, or equal and i <= its tie limit (the last kept tie's index minus e, clamped to
  ;;     -1 .. n). Patterns compare unsigned (0xffffffff: no element), tie limits signed.
  ;;   $keep 2, random: kept when (H($keepPrefix, e) >> 8) * 2^-24 < $keepBelow (exact in
  ;;     float32); with $rescale, v = fl32(v * $rescaleBy) first.
  ;; s_j = fl32(v * w) where kept, +0 elsewhere. After the widening and the hashes, one pass for
  ;; the keep mode does the rest: the sign flip is an XOR with the hash's bit 31 under a mask that
  ;; is 0 without the control (then $HASH's stale contents change nothing).
  (func (export "recipeTerm")
    (param $pType i32) (param $p i32) (param $mType i32) (param $m i32) (param $n i32)
    (param $slot i32) (param $accumulate i32) (param $weight f32)
    (param $flip i32) (param $flipPrefix i32)
    (param $keep i32) (param $keepPrefix i32) (param $keepBelow f32) (param $rescale i32) (param $rescaleBy f32)
    (param $toPattern i32) (param $toTieLimit i32) (param $fromPattern i32) (param $fromTieLimit i32)
    (param $elementLow i32) (param $elementHigh i32)
    (local $o i32)
    (local $end i32)
    (local $out i32)
    (local $acc i32)
    (local $w v128)
    (local $v v128)
    (local $s v128)
    (local $flipMask v128)
    (local $key v128)
    (local $index v128)
    (local $a v128)
    (local $b v128)
    (local $c v128)
    (local $d v128)
    (local.set $p (call $widen (local.get $pType) (local.get $p) (global.get $RECIPE_P) (local.get $n)))
    (local.set $m (call $widen (local.get $mType) (local.get $m) (global.get $RECIPE_M) (local.get $n)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $w (f32x4.splat (local.get $weight)))
    (if (i32.and (i32.eqz (i32.or (local.get $flip) (local.get $keep))) (i32.eq (local.get $accumulate) (i32.const 1)))
      (then
        ;; Every element kept, no sign flip, straight into mixed.
        (local.set $o (i32.const 0))
        (loop $elements
          (v128.store (i32.add (global.get $MIXED) (local.get $o))
            (f32x4.add (v128.load (i32.add (global.get $MIXED) (local.get $o)))
              (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $o))) (v128.load (i32.add (local.get $m) (local.get $o)))) (local.get $w))))
          (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
        (return)))
    (local.set $out
      (select (global.get $RECIPE_OUT) (i32.add (global.get $SLOTS) (i32.shl (local.get $slot) (global.get $SLOT_SHIFT)))
        (i32.eq (local.get $accumulate) (i32.const 1))))
    (local.set $acc
      (select (global.get $MIXED) (select (global.get $SUM) (global.get $DISCARD) (i32.eq (local.get $accumulate) (i32.const 2)))
        (i32.eq (local.get $accumulate) (i32.const 1))))
    (if (local.get $flip)
      (then (call $hashBlock (global.get $HASH) (local.get $flipPrefix) (local.get $elementLow) (local.get $elementHigh) (local.get $n))))
    (local.set $flipMask (i32x4.splat (select (i32.const 0x80000000) (i32.const 0) (local.get $flip))))
    (if (i32.eq (local.get $keep) (i32.const 0))
      (then
        (local.set $o (i32.const 0))
        (loop $elements
          (local.set $v
            (v128.xor
              (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $o))) (v128.load (i32.add (local.get $m) (local.get $o))))
              (v128.and (v128.load (i32.add (global.get $HASH) (local.get $o))) (local.get $flipMask))))
          (local.set $s (f32x4.mul (local.get $v) (local.get $w)))
          (v128.store (i32.add (local.get $out) (local.get $o)) (local.get $s))
          (v128.store (i32.add (local.get $acc) (local.get $o)) (f32x4.add (v128.load (i32.add (local.get $acc) (local.get $o))) (local.get $s)))
          (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))))
    (if (i32.eq (local.get $keep) (i32.const 1))
      (then
        (local.set $a (i32x4.splat (local.get $toPattern)))
        (local.set $b (i32x4.splat (local.get $toTieLimit)))
        (local.set $c (i32x4.splat (local.get $fromPattern)))
        (local.set $d (i32x4.splat (local.get $fromTieLimit)))
        (local.set $index (v128.const i32x4 0 1 2 3))
        (local.set $o (i32.const 0))
        (loop $elements
          (local.set $v
            (v128.xor
              (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $o))) (v128.load (i32.add (local.get $m) (local.get $o))))
              (v128.and (v128.load (i32.add (global.get $HASH) (local.get $o))) (local.get $flipMask))))
          (local.set $key (i32x4.min_u (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)) (v128.const i32x4 0x7f800001 0x7f800001 0x7f800001 0x7f800001)))
          (local.set $s (v128.and
            (f32x4.mul (local.get $v) (local.get $w))
            (v128.andnot
              (v128.or
                (i32x4.gt_u (local.get $key) (local.get $a))
                (v128.and (i32x4.eq (local.get $key) (local.get $a)) (i32x4.le_s (local.get $index) (local.get $b))))
              (v128.or
                (i32x4.gt_u (local.get $key) (local.get $c))
                (v128.and (i32x4.eq (local.get $key) (local.get $c)) (i32x4.le_s (local.get $index) (local.get $d)))))))
          (v128.store (i32.add (local.get $out) (local.get $o)) (local.get $s))
          (v128.store (i32.add (local.get $acc) (local.get $o)) (f32x4.add (v128.load (i32.add (local.get $acc) (local.get $o))) (local.get $s)))
          (local.set $index (i32x4.add (local.get $index) (v128.const i32x4 4 4 4 4)))
          (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))))
    (if (i32.eq (local.get $keep) (i32.const 2))
      (then
        (call $hashBlock (global.get $HASH_KEEP) (local.get $keepPrefix) (local.get $elementLow) (local.get $elementHigh) (local.get $n))
        (local.set $a (f32x4.splat (local.get $keepBelow)))
        (local.set $b (f32x4.splat (local.get $rescaleBy)))
        ;; All ones when rescaling: selects fl32(v * c) over v.
        (local.set $c (i32x4.splat (i32.sub (i32.const 0) (i32.ne (local.get $rescale) (i32.const 0)))))
        (local.set $o (i32.const 0))
        (loop $elements
          (local.set $v
            (v128.xor
              (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $o))) (v128.load (i32.add (local.get $m) (local.get $o))))
              (v128.and (v128.load (i32.add (global.get $HASH) (local.get $o))) (local.get $flipMask))))
          (local.set $s (v128.and
            (f32x4.mul (v128.bitselect (f32x4.mul (local.get $v) (local.get $b)) (local.get $v) (local.get $c)) (local.get $w))
            (f32x4.lt
              (f32x4.mul
                (f32x4.convert_i32x4_u (i32x4.shr_u (v128.load (i32.add (global.get $HASH_KEEP) (local.get $o))) (i32.const 8)))
                (v128.const f32x4 0x1p-24 0x1p-24 0x1p-24 0x1p-24))
              (local.get $a))))
          (v128.store (i32.add (local.get $out) (local.get $o)) (local.get $s))
          (v128.store (i32.add (local.get $acc) (local.get $o)) (f32x4.add (v128.load (i32.add (local.get $acc) (local.get $o))) (local.get $s)))
          (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end)))))))

  ;; Steps 5-7 for one term once the election's sum S is complete: s_j (in slot $slot) is included
  ;; when its sign is the majority's (+1 when S >= 0, else -1, NaN included; zeros and NaN s_j have
  ;; no sign), and then added to mixed, and its weight to D.
  (func (export "recipeInclude") (param $slot i32) (param $n i32) (param $weight f32)
    (local $o i32)
    (local $end i32)
    (local $in i32)
    (local $s v128)
    (local $w v128)
    (local $included v128)
    (local.set $in (i32.add (global.get $SLOTS) (i32.shl (local.get $slot) (global.get $SLOT_SHIFT))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $w (f32x4.splat (local.get $weight)))
    (local.set $o (i32.const 0))
    (loop $elements
      (local.set $s (v128.load (i32.add (local.get $in) (local.get $o))))
      (local.set $included
        (v128.bitselect
          (f32x4.gt (local.get $s) (v128.const f32x4 0 0 0 0))
          (f32x4.lt (local.get $s) (v128.const f32x4 0 0 0 0))
          (f32x4.ge (v128.load (i32.add (global.get $SUM) (local.get $o))) (v128.const f32x4 0 0 0 0))))
      (v128.store (i32.add (global.get $MIXED) (local.get $o))
        (v128.bitselect (f32x4.add (v128.load (i32.add (global.get $MIXED) (local.get $o))) (local.get $s)) (v128.load (i32.add (global.get $MIXED) (local.get $o))) (local.get $included)))
      (v128.store (i32.add (global.get $DIVISOR) (local.get $o))
        (v128.bitselect (f32x4.add (v128.load (i32.add (global.get $DIVISOR) (local.get $o))) (local.get $w)) (v128.load (i32.add (global.get $DIVISOR) (local.get $o))) (local.get $included)))
      (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end)))))

  ;; Steps 7-8: with $normalize 1, mixed = fl32(mixed / $divisor) (the caller passes only D != 0);
  ;; with 2, mixed = fl32(mixed / D) per element where D != 0; then r = fl32(t + mixed), rounded to
  ;; $outType at $out.
  (func (export "recipeFinish")
    (param $tType i32) (param $t i32) (param $outType i32) (param $out i32) (param $n i32)
    (param $normalize i32) (param $divisor f32)
    (local $o i32)
    (local $end i32)
    (local $d v128)
    (local.set $t (call $widen (local.get $tType) (local.get $t) (global.get $RECIPE_T) (local.get $n)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (if (i32.eq (local.get $normalize) (i32.const 1))
      (then
        (local.set $d (f32x4.splat (local.get $divisor)))
        (local.set $o (i32.const 0))
        (loop $elements
          (v128.store (i32.add (global.get $MIXED) (local.get $o)) (f32x4.div (v128.load (i32.add (global.get $MIXED) (local.get $o))) (local.get $d)))
          (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))))
    (if (i32.eq (local.get $normalize) (i32.const 2))
      (then
        (local.set $o (i32.const 0))
        (loop $elements
          (local.set $d (v128.load (i32.add (global.get $DIVISOR) (local.get $o))))
          (v128.store (i32.add (global.get $MIXED) (local.get $o))
            (v128.bitselect
              (f32x4.div (v128.load (i32.add (global.get $MIXED) (local.get $o))) (local.get $d))
              (v128.load (i32.add (global.get $MIXED) (local.get $o)))
              (f32x4.ne (local.get $d) (v128.const f32x4 0 0 0 0))))
          (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))))
    (local.set $o (i32.const 0))
    (loop $elements
      (v128.store (i32.add (global.get $RECIPE_OUT) (local.get $o)) (f32x4.add (v128.load (i32.add (local.get $t) (local.get $o))) (v128.load (i32.add (global.get $MIXED) (local.get $o)))))
      (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
    (call $narrow (local.get $outType) (global.get $RECIPE_OUT) (local.get $out) (local.get $n)))

  ;; The order keys of v = fl32(p - m) for n elements (0 < n <= recipeBlockElements), as uint32 at
  ;; $RECIPE_OUT: |v|'s bits, every NaN one above +Inf (magnitudeOrderKey of magnitudeStatistics.ts).
  ;; The control's sign flip leaves |v| as is, so the keys do not depend on it.
  (func $orderKeys (param $pType i32) (param $p i32) (param $mType i32) (param $m i32) (param $n i32)
    (local $o i32)
    (local $end i32)
    (local.set $p (call $widen (local.get $pType) (local.get $p) (global.get $RECIPE_P) (local.get $n)))
    (local.set $m (call $widen (local.get $mType) (local.get $m) (global.get $RECIPE_M) (local.get $n)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (loop $elements
      (v128.store (i32.add (global.get $RECIPE_OUT) (local.get $o))
        (i32x4.min_u
          (v128.and
            (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $o))) (v128.load (i32.add (local.get $m) (local.get $o))))
            (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
          (v128.const i32x4 0x7f800001 0x7f800001 0x7f800001 0x7f800001)))
      (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end)))))

  ;; The magnitude statistics pass (magnitudeStatistics.ts), over n > 0 elements of p and m in
  ;; blocks of recipeBlockElements: the order keys of each block at $RECIPE_OUT, then a scalar loop
  ;; over exactly the block's keys. Histograms are 65536 uint32 counts at $histogram.

  ;; Start of block $start (elements) of an input of dtype code $dtype at $at.
  (func $blockAddress (param $dtype i32) (param $at i32) (param $start i32) (result i32)
    (i32.add (local.get $at) (i32.mul (local.get $start) (call $width (local.get $dtype)))))

  ;; Elements in the block at $start of n: recipeBlockElements or what is left.
  (func $blockCount (param $start i32) (param $n i32) (result i32)
    (select (global.get $RECIPE_BLOCK) (i32.sub (local.get $n) (local.get $start))
      (i32.gt_u (i32.sub (local.get $n) (local.get $start)) (global.get $RECIPE_BLOCK))))

  ;; Counts each key's high 16 bits: histogram[key >> 16] += 1.
  (func (export "keyHistogramHigh") (param $pType i32) (param $p i32) (param $mType i32) (param $m i32) (param $n i32) (param $histogram i32)
    (local $start i32)
    (local $o i32)
    (local $end i32)
    (local $at i32)
    (loop $blocks
      (local.set $end (i32.add (global.get $RECIPE_OUT) (i32.shl (call $blockCount (local.get $start) (local.get $n)) (i32.const 2))))
      (call $orderKeys
        (local.get $pType) (call $blockAddress (local.get $pType) (local.get $p) (local.get $start))
        (local.get $mType) (call $blockAddress (local.get $mType) (local.get $m) (local.get $start))
        (call $blockCount (local.get $start) (local.get $n)))
      (local.set $o (global.get $RECIPE_OUT))
      (loop $elements
        (local.set $at (i32.add (local.get $histogram) (i32.shl (i32.shr_u (i32.load (local.get $o)) (i32.const 16)) (i32.const 2))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
        (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 4))) (local.get $end))))
      (br_if $blocks (i32.lt_u (local.tee $start (i32.add (local.get $start) (global.get $RECIPE_BLOCK))) (local.get $n)))))

  ;; Counts the low 16 bits of the keys whose high 16 bits are $highBin: histogram[key & 0xffff] += 1.
  ;; Four keys at a time: a group with no match is skipped; in one with a match, each key (up to n)
  ;; adds its match (0 or 1) without a branch, as the cut's bin is often a dense one where a branch
  ;; per key is often mispredicted. Lanes are counted inline: V8 does not inline wasm calls.
  (func (export "keyHistogramLow") (param $pType i32) (param $p i32) (param $mType i32) (param $m i32) (param $n i32) (param $highBin i32) (param $histogram i32)
    (local $start i32)
    (local $count i32)
    (local $o i32)
    (local $end i32)
    (local $keys v128)
    (local $matches v128)
    (local $bin v128)
    (local $at i32)
    (local.set $bin (i32x4.splat (local.get $highBin)))
    (loop $blocks
      (local.set $count (call $blockCount (local.get $start) (local.get $n)))
      (call $orderKeys
        (local.get $pType) (call $blockAddress (local.get $pType) (local.get $p) (local.get $start))
        (local.get $mType) (call $blockAddress (local.get $mType) (local.get $m) (local.get $start))
        (local.get $count))
      (local.set $o (global.get $RECIPE_OUT))
      (local.set $end (i32.add (global.get $RECIPE_OUT) (i32.shl (local.get $count) (i32.const 2))))
      (loop $groups
        (local.set $keys (v128.load (local.get $o)))
        (local.set $matches (i32x4.eq (i32x4.shr_u (local.get $keys) (i32.const 16)) (local.get $bin)))
        (if (v128.any_true (local.get $matches))
          (then
            (local.set $at (i32.add (local.get $histogram) (i32.shl (i32.and (i32x4.extract_lane 0 (local.get $keys)) (i32.const 0xffff)) (i32.const 2))))
            (i32.store (local.get $at) (i32.sub (i32.load (local.get $at)) (i32x4.extract_lane 0 (local.get $matches))))
            (if (i32.lt_u (i32.add (local.get $o) (i32.const 4)) (local.get $end))
              (then
                (local.set $at (i32.add (local.get $histogram) (i32.shl (i32.and (i32x4.extract_lane 1 (local.get $keys)) (i32.const 0xffff)) (i32.const 2))))
                (i32.store (local.get $at) (i32.sub (i32.load (local.get $at)) (i32x4.extract_lane 1 (local.get $matches))))))
            (if (i32.lt_u (i32.add (local.get $o) (i32.const 8)) (local.get $end))
              (then
                (local.set $at (i32.add (local.get $histogram) (i32.shl (i32.and (i32x4.extract_lane 2 (local.get $keys)) (i32.const 0xffff)) (i32.const 2))))
                (i32.store (local.get $at) (i32.sub (i32.load (local.get $at)) (i32x4.extract_lane 2 (local.get $matches))))))
            (if (i32.lt_u (i32.add (local.get $o) (i32.const 12)) (local.get $end))
              (then
                (local.set $at (i32.add (local.get $histogram) (i32.shl (i32.and (i32x4.extract_lane 3 (local.get $keys)) (i32.const 0xffff)) (i32.const 2))))
                (i32.store (local.get $at) (i32.sub (i32.load (local.get $at)) (i32x4.extract_lane 3 (local.get $matches))))))))
        (br_if $groups (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 16))) (local.get $end))))
      (br_if $blocks (i32.lt_u (local.tee $start (i32.add (local.get $start) (global.get $RECIPE_BLOCK))) (local.get $n)))))

  ;; The index (0 .. n - 1) of the $need-th key equal to $pattern, counting from element 0, or, when
  ;; fewer than $need are equal, -1 - (how many are).
  (func (export "keyTie") (param $pType i32) (param $p i32) (param $mType i32) (param $m i32) (param $n i32) (param $pattern i32) (param $need i32) (result i32)
    (local $start i32)
    (local $o i32)
    (local $end i32)
    (local $seen i32)
    (loop $blocks
      (local.set $end (i32.add (global.get $RECIPE_OUT) (i32.shl (call $blockCount (local.get $start) (local.get $n)) (i32.const 2))))
      (call $orderKeys
        (local.get $pType) (call $blockAddress (local.get $pType) (local.get $p) (local.get $start))
        (local.get $mType) (call $blockAddress (local.get $mType) (local.get $m) (local.get $start))
        (call $blockCount (local.get $start) (local.get $n)))
      (local.set $o (global.get $RECIPE_OUT))
      (loop $elements
        (if (i32.eq (i32.load (local.get $o)) (local.get $pattern))
          (then
            (if (i32.eq (local.tee $seen (i32.add (local.get $seen) (i32.const 1))) (local.get $need))
              (then (return (i32.add (local.get $start) (i32.shr_u (i32.sub (local.get $o) (global.get $RECIPE_OUT)) (i32.const 2))))))))
        (br_if $elements (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 4))) (local.get $end))))
      (br_if $blocks (i32.lt_u (local.tee $start (i32.add (local.get $start) (global.get $RECIPE_BLOCK))) (local.get $n))))
    (i32.sub (i32.const -1) (local.get $seen))))
