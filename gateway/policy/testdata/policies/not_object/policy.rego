package ura

decision := true
