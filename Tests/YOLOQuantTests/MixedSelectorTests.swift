import Testing
@testable import YOLOQuant

struct MixedSelectorTests {
    @Test("mixed picks the least MSE within the budget and reports every candidate")
    func selection() throws {
        let weight = try fixture("pointwise_weight.npy")
        let bits = [2, 4, 8]
        let unlimited = try MixedSelector.select(weights: weight.data, shape: weight.shape, scheme: .symmetric,
                                                 bits: bits, budget: .unlimited)
        #expect(unlimited.candidates.count == bits.count * Granularity.axisAligned.count)
        #expect(unlimited.candidates.allSatisfy { $0.fitsBudget })
        let best = unlimited.candidates.map(\.error.mse).min()!
        #expect(unlimited.chosen.error.mse == best)
        #expect(unlimited.quantized.format == unlimited.chosen.format)
        for candidate in unlimited.candidates {
            let q = try QuantizedTensor(quantizing: weight, format: candidate.format)
            #expect(candidate.size == q.size && candidate.groups == q.layout.groupCount)
            #expect(candidate.error == (try q.error(against: weight.data)))
        }

        for budget in [SizeBudget.bitsPerWeight(4.3), .bitsPerWeight(2.1), .bytes(600)] {
            let selection = try MixedSelector.select(weights: weight.data, shape: weight.shape, scheme: .affine,
                                                     bits: bits, budget: budget)
            let limit = budget.limit(count: weight.count)!
            let fitting = selection.candidates.filter { $0.size.totalBytes <= limit }
            #expect(selection.candidates.map(\.fitsBudget) == selection.candidates.map { $0.size.totalBytes <= limit })
            #expect(!fitting.isEmpty)
            #expect(selection.chosen.size.totalBytes <= limit)
            #expect(selection.chosen.error.mse == fitting.map(\.error.mse).min()!)
        }
        // 4.3 bits per weight on [32, 64, 1, 1]: 4-bit codes (1024 B) + at most 76 B of parameters.
        let four = try MixedSelector.select(weights: weight.data, shape: weight.shape, scheme: .symmetric,
                                            bits: bits, budget: .bitsPerWeight(4.3))
        #expect(four.chosen.format.bits == 4)
    }

    @Test("no candidate fits: the smallest is taken; empty or invalid candidate sets are errors")
    func edges() throws {
        let weight = try fixture("first_weight.npy")
        let tight = try MixedSelector.select(weights: weight.data, shape: weight.shape, scheme: .pwlq,
                                             bits: [4, 3], granularities: [.filter, .layer], budget: .bytes(1))
        #expect(tight.candidates.allSatisfy { !$0.fitsBudget })
        #expect(tight.chosen.format == (try QuantFormat(scheme: .pwlq, bits: 3, granularity: .layer)))
        #expect(throws: QuantError.noCandidates) {
            try MixedSelector.select(weights: weight.data, shape: weight.shape, scheme: .affine, bits: [], budget: .unlimited)
        }
        #expect(throws: QuantError.invalidBits(9)) {
            try MixedSelector.select(weights: weight.data, shape: weight.shape, scheme: .affine, bits: [4, 9], budget: .unlimited)
        }
    }
}
