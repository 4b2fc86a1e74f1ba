/// Fixed-width bit packing of up to 128 small integers per block (the layout of posting blocks).
enum BitPacking {
    /// Bits needed for `v` (0 for 0).
    @inline(__always)
    static func width(_ v: UInt32) -> Int { v == 0 ? 0 : 32 - v.leadingZeroBitCount }

    @inline(__always)
    static func wordCount(count: Int, width: Int) -> Int { (count * width + 31) / 32 }

    static func pack(_ values: [UInt32], count: Int, width: Int, into words: inout [UInt32]) {
        guard width > 0 else { return }
        let base = words.count
        words.append(contentsOf: repeatElement(0, count: wordCount(count: count, width: width)))
        for i in 0..<count {
            let bit = i * width
            let w = base + bit >> 5
            let shift = bit & 31
            let v = values[i]
            words[w] |= v << UInt32(shift)
            if shift + width > 32 { words[w + 1] |= v >> UInt32(32 - shift) }
        }
    }

    @inline(__always)
    static func unpack(_ words: UnsafeBufferPointer<UInt32>, from base: Int, count: Int, width: Int,
                       into out: UnsafeMutablePointer<UInt32>) {
        guard width > 0 else {
            for i in 0..<count { out[i] = 0 }
            return
        }
        let mask: UInt32 = width == 32 ? .max : (1 << UInt32(width)) - 1
        var bit = 0
        for i in 0..<count {
            let w = base + bit >> 5
            let shift = bit & 31
            var v = words[w] >> UInt32(shift)
            if shift + width > 32 { v |= words[w + 1] << UInt32(32 - shift) }
            out[i] = v & mask
            bit += width
        }
    }
}
