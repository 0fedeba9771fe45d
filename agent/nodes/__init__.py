"""Graph nodes, one module per part of the journey: each reads the state, calls one tool and says what happened."""
